//! Text for a terminal: server-controlled strings made safe to print, durations and
//! codes in words, columns that line up.

use a2s_query::{ArmaRules, Info, Player, TextBuf};

/// Server text as it may reach a terminal: invalid UTF-8 as U+FFFD, and every control
/// character (an escape sequence could clear the screen or retitle the window) and
/// every bidirectional override written as a visible escape.
pub fn clean(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if !text.chars().any(needs_escape) {
        return text.into_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    // U+202A-U+202E and U+2066-U+2069 reorder what follows them on screen.
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Columns a string takes on a terminal (wide characters take two).
pub fn columns(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// `s` cut to at most `max` columns (a `…` marks the cut), then padded to `width`.
pub fn fit(s: &str, max: usize, width: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    if columns(s) <= max {
        out.push_str(s);
        used = columns(s);
    } else {
        for c in s.chars() {
            let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            if used + w + 1 > max {
                break;
            }
            out.push(c);
            used += w;
        }
        out.push('…');
        used += 1;
    }
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

/// Seconds as `1h 02m`, `4m 05s` or `9s`; `-` for what is not a duration (the value
/// is the server's word: negative, infinite or NaN happen).
pub fn duration(seconds: f32) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".to_string();
    }
    let s = seconds as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, m, sec) => format!("{m}m {sec:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

pub fn ms(ping: std::time::Duration) -> String {
    format!("{:.1} ms", ping.as_secs_f64() * 1000.0)
}

/// The info reply as labelled lines.
pub fn info<S: TextBuf>(info: &Info<S>) -> Vec<String> {
    let t = |s: &S| clean(s.as_ref());
    let w = |s: &S::Slice| clean(s.as_ref());
    let mut lines = vec![
        format!("Server    {}", w(info.server_name())),
        format!("Map       {} ({})", w(info.map_name()), w(info.folder())),
    ];
    match info {
        Info::Source(s) => lines.push(format!(
            "Game      {} (app {}, protocol {}, version {})",
            t(&s.game),
            s.full_app_id(),
            s.protocol,
            t(&s.version)
        )),
        Info::GoldSrc(g) => lines.push(format!("Game      {} (GoldSrc reply, protocol {})", t(&g.game), g.protocol)),
    }
    lines.push(format!(
        "Players   {}/{} ({}), {}, {}, {}, {}",
        info.player_count(),
        info.max_players(),
        if info.bot_count() == 1 { "1 bot".to_string() } else { format!("{} bots", info.bot_count()) },
        info.server_type(),
        info.platform(),
        if info.vac_enabled() { "VAC" } else { "no VAC" },
        if info.password_protected() { "password" } else { "no password" },
    ));
    match info {
        Info::Source(s) => {
            if let Some(port) = s.port {
                lines.push(format!("Game port {port}"));
            }
            if let Some(id) = s.steam_id {
                lines.push(format!("Steam id  {id}"));
            }
            if let (Some(port), Some(name)) = (s.stv_port, &s.stv_name) {
                lines.push(format!("SourceTV  {} on port {port}", t(name)));
            }
            if let Some(k) = &s.keywords {
                lines.push(format!("Tags      {}", t(k)));
            }
        }
        Info::GoldSrc(g) => {
            lines.push(format!("Address   {}", t(&g.address)));
            if let Some(web) = &g.mod_website {
                lines.push(format!("Mod       {}", t(web)));
            }
        }
    }
    lines.push(format!("Ping      {}", ms(info.ping())));
    lines
}

/// The players as a table: rank, name, score, time (and The Ship's deaths and money);
/// an entry without a name (a player still connecting, or a bot on some games) says so.
pub fn players<S: AsRef<[u8]>>(players: &[Player<S>]) -> Vec<String> {
    let names: Vec<String> = players.iter().map(|p| clean(p.name.as_ref())).collect();
    let width = names.iter().map(|n| columns(n)).max().unwrap_or(0).clamp(4, 40);
    let ship = players.iter().any(|p| p.deaths.is_some());
    let mut head = format!("{:>3}  {}  {:>6}  {:>8}", "#", fit("Name", width, width), "Score", "Time");
    if ship {
        head.push_str(&format!("  {:>6}  {:>7}", "Deaths", "Money"));
    }
    let mut lines = vec![format!("{} players", players.len()), head];
    for (i, (p, name)) in players.iter().zip(&names).enumerate() {
        let shown = if name.is_empty() { "(no name)" } else { name };
        let mut row =
            format!("{:>3}  {}  {:>6}  {:>8}", i + 1, fit(shown, width, width), p.score, duration(p.duration));
        if let (Some(d), Some(m)) = (p.deaths, p.money) {
            row.push_str(&format!("  {d:>6}  {m:>7}"));
        }
        lines.push(row.trim_end().to_string());
    }
    lines
}

/// Arma 3 / DayZ rules: the game, DLCs, difficulty, the mod list as a table, the
/// signatures, and the text rules.
pub fn arma<S: AsRef<[u8]>>(a: &ArmaRules<S>) -> Vec<String> {
    let t = |s: &S| clean(s.as_ref());
    let game = if a.version >= 3 { "Arma 3" } else { "DayZ" };
    let mut lines = vec![format!("{game} rules, version {}, flags {:#04x}", a.version, a.flags)];
    let dlcs: Vec<String> =
        a.dlcs.iter().map(|d| d.name.map_or_else(|| format!("bit {:#06x}", d.bit), str::to_string)).collect();
    lines.push(format!("DLCs        {}", if dlcs.is_empty() { "none".to_string() } else { dlcs.join(", ") }));
    if let Some(d) = a.difficulty {
        let [difficulty, crosshair] = d.raw;
        lines.push(format!(
            "Difficulty  level {}, AI {}, {}, {}, {} (bytes {:02X} {:02X})",
            d.level,
            d.ai_level,
            if d.third_person { "third person" } else { "first person only" },
            if d.crosshair { "crosshair" } else { "no crosshair" },
            if d.advanced_flight_model { "advanced flight model" } else { "standard flight model" },
            difficulty,
            crosshair,
        ));
    }
    if a.mods_overflow() || a.signatures_overflow() {
        lines.push("Note        the server says it cut its mod or signature list to fit (flags bits 0-1)".to_string());
    }
    if a.truncated {
        lines.push("Note        the rules reply was cut short: text rules may be missing".to_string());
    }
    lines.push(format!("{} mods", a.mods.len()));
    for m in &a.mods {
        let id = match (m.is_dlc, m.workshop_id) {
            (true, _) => format!("creator DLC, app {}", m.id),
            (false, Some(w)) => format!("workshop {w}"),
            (false, None) => "not from the Workshop".to_string(),
        };
        let name = if m.name.as_ref().is_empty() { "(no name)".to_string() } else { t(&m.name) };
        lines.push(format!("  {}  {id}", fit(&name, 40, 40)));
    }
    let signatures: Vec<String> = a.signatures.iter().map(t).collect();
    lines.push(format!("{} signatures: {}", signatures.len(), signatures.join(", ")));
    if let Some(d) = a.description.as_ref().filter(|d| !d.as_ref().is_empty()) {
        lines.push(format!("Description {}", t(d)));
    }
    for (n, v) in &a.rules {
        lines.push(format!("{} = {}", t(n), t(v)));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(9.7), "9s");
        assert_eq!(duration(245.0), "4m 05s");
        assert_eq!(duration(3720.0), "1h 02m");
        for odd in [-1.0, f32::NAN, f32::INFINITY] {
            assert_eq!(duration(odd), "-");
        }
    }

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(clean(b"plain \xC3\xA9t\xC3\xA9"), "plain été");
        assert_eq!(clean(b"\x1b[2J\x07x\r\n"), "\\u{1b}[2J\\u{7}x\\r\\n");
        assert_eq!(clean("a\u{202E}b".as_bytes()), "a\\u{202e}b");
        assert_eq!(clean(b"bad \xFF"), "bad \u{FFFD}");
    }

    #[test]
    fn fit_cuts_and_pads_by_columns() {
        assert_eq!(fit("abc", 5, 5), "abc  ");
        assert_eq!(fit("abcdefgh", 5, 5), "abcd…");
        // Wide characters take two columns each.
        assert_eq!(fit("日本語です", 5, 5), "日本…");
        assert_eq!(columns(&fit("日本語です", 5, 5)), 5);
    }
}
