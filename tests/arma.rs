//! Arma 3 and DayZ binary rules: the two real captures in `../shared/arma` decoded to the
//! values their README gives, hand-built messages for every field and escape, chunks in
//! any order, missing or sent twice, and a responder playing both games queried
//! through `Client` and the batch engine.

use std::path::PathBuf;
use std::time::Duration;

use a2s_query::proto::{ArmaMod, ArmaRules, Datagram, Difficulty, Dlc, Info, RulesView, SourceInfo};
use a2s_query::server::Responder;
use a2s_query::{Batch, Client, Encoding, Error, Raw, Rules};

/// The captures' folder: `A2S_ARMA`, else `../shared/arma` beside the crate. Missing
/// is loud, and a failure when `A2S_VECTORS_REQUIRED=1` (CI).
fn arma_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("A2S_ARMA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/arma"));
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("A2S_VECTORS_REQUIRED").as_deref() != Ok("1"),
        "A2S_VECTORS_REQUIRED=1 but the Arma captures folder {} is missing",
        dir.display()
    );
    eprintln!("SKIPPED: Arma captures folder {} not found (set A2S_ARMA)", dir.display());
    None
}

/// A capture's rules, as bytes.
fn capture(name: &str) -> Option<Rules<Vec<u8>>> {
    let bytes = std::fs::read(arma_dir()?.join(name)).unwrap();
    let Ok(Datagram::Single(m)) = Datagram::classify(&bytes) else { panic!("{name}: not a single reply") };
    assert_eq!(m.kind, 0x45);
    Some(Rules::parse(m.body, Raw).unwrap())
}

#[test]
fn the_arma3_capture_decodes_to_its_documented_values() {
    let Some(rules) = capture("arma3-rules.bin") else { return };
    assert_eq!(rules.len(), 26);
    let a = ArmaRules::decode(&rules, Encoding::Utf8).unwrap();
    assert_eq!((a.version, a.flags, a.dlc_mask), (3, 0x08, 0x1BFF));
    assert_eq!(a.dlcs.len(), 12);
    assert_eq!(a.dlcs[0], Dlc { bit: 0x0001, name: Some("Karts"), hash: 4_130_562_402 });
    assert_eq!(a.dlcs[11].hash, 1_171_172_752);
    assert_eq!(a.dlcs[11].bit, 0x1000);
    let bits: Vec<u16> = a.dlcs.iter().map(|d| d.bit).collect();
    assert!(!bits.contains(&0x0400) && bits.contains(&0x0800));
    let d = a.difficulty.unwrap();
    assert_eq!(d.raw, [0x9B, 0x00]);
    assert_eq!((d.level, d.ai_level, d.advanced_flight_model, d.third_person, d.crosshair), (3, 3, false, true, false));
    assert_eq!(a.mods.len(), 35);
    for (m, app) in a.mods.iter().zip([1_681_170, 2_647_760, 2_647_830]) {
        assert_eq!((m.flags, m.id, m.is_dlc, m.workshop_id, m.name.as_str()), (0x13, app, true, None, ""));
    }
    assert!(a.mods[3..].iter().all(|m| m.flags == 0x04 && !m.is_dlc && m.workshop_id == Some(m.id)));
    assert_eq!((a.mods[3].name.as_str(), a.mods[3].id), ("Advanced Vault System", 2_794_721_649));
    let last = a.mods.last().unwrap();
    assert_eq!((last.name.as_str(), last.id), ("White Phosphor - No ACE", 1_793_762_277));
    assert_eq!(a.signatures.len(), 168);
    assert_eq!(a.signatures[0], "16aa-3lsr-2020-01-01.7af9");
    assert_eq!(a.signatures[167], "zen_1.15.1.36");
    assert_eq!(a.description, None);
    assert!(a.rules.is_empty(), "Arma 3 sends chunks only");
    // Re-encoded, it gives the capture's chunks byte for byte.
    let again = a.to_rules().unwrap();
    assert_eq!(again, Vec::from(&rules));
}

#[test]
fn the_dayz_capture_decodes_to_its_documented_values() {
    let Some(rules) = capture("dayz-rules.bin") else { return };
    assert_eq!(rules.len(), 30);
    let a = ArmaRules::decode(&rules, Encoding::Utf8).unwrap();
    assert_eq!((a.version, a.flags, a.dlc_mask), (2, 0x08, 0));
    assert!(a.dlcs.is_empty() && a.difficulty.is_none());
    assert_eq!(a.mods.len(), 48);
    assert!(a.mods.iter().all(|m| m.flags == 0x04 && m.workshop_id == Some(m.id)));
    assert_eq!((a.mods[0].name.as_str(), a.mods[0].id), ("Delta Paintball", 3_447_867_663));
    assert_eq!((a.mods[47].name.as_str(), a.mods[47].id), ("Community Framework", 1_559_212_036));
    assert_eq!(a.signatures.len(), 123);
    assert_eq!((a.signatures[0].as_str(), a.signatures[122].as_str()), ("4KBOSSKTest", "ZombieCooKie"));
    assert_eq!(a.description.as_deref(), Some(""));
    let text: Vec<(&str, &str)> = a.rules.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    assert_eq!(
        text,
        [
            ("allowedBuild", "0"),
            ("clientPort", "0"),
            ("dedicated", "1"),
            ("island", "chernarusplus"),
            ("language", "65545"),
            ("platform", "win"),
            ("requiredBuild", "0"),
            ("requiredVersion", "128"),
            ("timeLeft", "15"),
        ]
    );
    assert_eq!(a.to_rules().unwrap(), Vec::from(&rules));
    // The zero-copy view gives the same.
    let bytes = std::fs::read(arma_dir().unwrap().join("dayz-rules.bin")).unwrap();
    let view = RulesView::parse(&bytes[5..]).unwrap();
    assert_eq!(ArmaRules::from_pairs(view.iter(), Encoding::Utf8).unwrap(), a);
}

/// An Arma 3 message using every field, with hashes full of the bytes that need
/// escaping (including a literal `01 02`).
fn arma3() -> ArmaRules {
    let mut arma = ArmaRules::default();
    arma.version = 3;
    arma.flags = 0x03;
    arma.dlc_mask = 0x0801 | 0x8000;
    arma.dlcs = vec![
        Dlc { bit: 0x0001, name: Some("Karts"), hash: 0x0201_0201 },
        Dlc { bit: 0x0800, name: Some("Contact"), hash: 0xFF00_01FF },
        Dlc { bit: 0x8000, name: None, hash: 7 },
    ];
    arma.difficulty = Some(Difficulty::from([0b1101_1010, 0x01]));
    arma.mods = vec![
        ArmaMod::workshop("CBA_A3", 0x0102_0300, 450_814_997),
        ArmaMod::new(String::new(), 1, 0x13, 1_681_170),
        ArmaMod::new("server side".into(), 2, 0x00, 0),
        ArmaMod::new("one".into(), 3, 0x01, 0),
        ArmaMod::workshop("big id", 4, 3_584_152_650_000),
        ArmaMod::new("\u{1}\u{2}ÿ".into(), 0, 0x02, 0x0102),
    ];
    arma.signatures = vec!["a3".into(), "cba_3.18.4.250711".into(), String::new()];
    arma.description = None;
    arma.rules = vec![];
    arma.truncated = false;
    arma
}

#[test]
fn every_field_and_escape_round_trips() {
    let a = arma3();
    let d = a.difficulty.unwrap();
    assert_eq!((d.level, d.ai_level, d.advanced_flight_model, d.third_person, d.crosshair), (2, 3, true, true, true));
    let rules: Rules<Vec<u8>> = a.to_rules().unwrap().into_iter().collect();
    // Servers cut each chunk's value at 127 escaped bytes.
    assert!(rules.iter().all(|(_, v)| !v.contains(&0) && v.len() <= 127));
    assert_eq!(ArmaRules::decode(&rules, Encoding::Utf8).unwrap(), a);
    // A DayZ message: version 2, no difficulty, a description, text rules after.
    let dayz = {
        let mut arma = arma3();
        arma.version = 2;
        arma.dlc_mask = 0x0003;
        arma.dlcs =
            vec![Dlc { bit: 1, name: Some("Livonia"), hash: 10 }, Dlc { bit: 2, name: Some("Frost Line"), hash: 11 }];
        arma.difficulty = None;
        arma.description = Some("a description".to_string());
        arma.rules = vec![("island".into(), "chernarusplus".into()), ("platform".into(), "lin".into())];
        arma
    };
    let rules: Rules<Vec<u8>> = dayz.to_rules().unwrap().into_iter().collect();
    assert_eq!(ArmaRules::decode(&rules, Encoding::Utf8).unwrap(), dayz);
    // Version 1 (DayZ before 2025): no description byte.
    let mut v1 = dayz;
    v1.version = 1;
    v1.description = None;
    let rules: Rules<Vec<u8>> = v1.to_rules().unwrap().into_iter().collect();
    assert_eq!(ArmaRules::decode(&rules, Encoding::Utf8).unwrap(), v1);
}

fn chunks_of(a: &ArmaRules) -> Vec<(Vec<u8>, Vec<u8>)> {
    a.to_rules().unwrap()
}

#[test]
fn chunks_in_any_order_decode_the_same() {
    let mut a = arma3();
    a.mods = (0..40).map(|i| ArmaMod::workshop(format!("mod {i}"), i, 1000 + u64::from(i))).collect();
    let pairs = chunks_of(&a);
    assert!(pairs.len() > 3);
    let mut reversed = pairs.clone();
    reversed.reverse();
    let mut rotated = pairs.clone();
    rotated.rotate_left(2);
    for order in [reversed, rotated] {
        let rules: Rules<Vec<u8>> = order.into_iter().collect();
        assert_eq!(ArmaRules::decode(&rules, Encoding::Utf8).unwrap(), a);
    }
}

#[test]
fn a_missing_chunk_is_an_error_never_a_shorter_mod_list() {
    let mut a = arma3();
    a.mods = (0..40).map(|i| ArmaMod::workshop(format!("mod {i}"), i, 1000 + u64::from(i))).collect();
    let pairs = chunks_of(&a);
    let total = pairs.len() as u8;
    for gone in 0..pairs.len() {
        let rules: Rules<Vec<u8>> =
            pairs.iter().enumerate().filter(|(i, _)| *i != gone).map(|(_, p)| p.clone()).collect();
        let e = ArmaRules::decode(&rules, Encoding::Utf8).unwrap_err();
        assert!(
            matches!(e, Error::MissingChunk { index, total: t } if usize::from(index) == gone + 1 && t == total),
            "{e}"
        );
        assert!(e.is_broken_reply());
    }
    // The reply cut at the end (the server's own limit): the last chunks missing.
    let cut: Rules<Vec<u8>> = pairs.iter().take(2).cloned().collect();
    assert!(matches!(ArmaRules::decode(&cut, Encoding::Utf8), Err(Error::MissingChunk { index: 3, .. })));
}

#[test]
fn a_chunk_sent_twice_is_kept_once_or_read_as_text_if_it_differs() {
    let pairs = chunks_of(&arma3());
    let mut twice = pairs.clone();
    twice.push(pairs[0].clone());
    let rules: Rules<Vec<u8>> = twice.into_iter().collect();
    assert_eq!(ArmaRules::decode(&rules, Encoding::Utf8).unwrap(), arma3());
    let mut other = pairs.clone();
    let mut changed = pairs[0].clone();
    changed.1[3] ^= 0x40;
    other.push(changed);
    let rules: Rules<Vec<u8>> = other.into_iter().collect();
    // The first copy is the chunk; the other, a text rule that looks like one.
    let decoded = ArmaRules::decode(&rules, Encoding::Utf8).unwrap();
    assert_eq!(decoded.mods, arma3().mods);
    assert_eq!(decoded.rules.len(), 1);
}

#[test]
fn a_message_that_ends_early_is_truncated_at_every_length() {
    let message = arma3().to_message().unwrap();
    for len in 0..message.len() {
        let e = ArmaRules::<String>::from_message(&message[..len], Encoding::Utf8).unwrap_err();
        assert!(matches!(e, Error::Truncated { .. }), "{len}: {e}");
    }
}

#[test]
fn rules_that_are_not_arma_are_said_so() {
    let plain: Rules<Vec<u8>> = [(b"sv_gravity".to_vec(), b"800".to_vec())].into_iter().collect();
    assert!(matches!(ArmaRules::decode(&plain, Encoding::Utf8), Err(Error::Malformed { .. })));
    // A two-letter rule name is not a chunk unless it reads as [index <= count].
    let named: Rules<Vec<u8>> = [(b"zb".to_vec(), b"1".to_vec())].into_iter().collect();
    assert!(ArmaRules::decode(&named, Encoding::Utf8).is_err());
    let mut message = arma3().to_message().unwrap();
    message[0] = 4;
    assert!(matches!(ArmaRules::<String>::from_message(&message, Encoding::Utf8), Err(Error::Malformed { .. })));
    // A mod id longer than 8 bytes.
    let bad = [3, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x09];
    assert!(matches!(ArmaRules::<String>::from_message(&bad, Encoding::Utf8), Err(Error::Malformed { .. })));
}

/// A responder playing an Arma 3 and a DayZ server with mods, DLCs and signatures,
/// queried through `Client`, the free function and the batch engine.
#[test]
fn a_responder_playing_arma_and_dayz_is_decoded_through_every_driver() {
    let mut dayz = arma3();
    dayz.version = 2;
    dayz.dlc_mask = 0x0001;
    dayz.dlcs = vec![Dlc { bit: 1, name: Some("Livonia"), hash: 0xDEAD_BEEF }];
    dayz.difficulty = None;
    dayz.description = Some(String::new());
    dayz.rules = vec![("island".into(), "enoch".into())];
    let serve = |a: &ArmaRules| {
        let mut r = Responder::new(Info::Source(SourceInfo::default()), vec![], vec![]);
        r.raw_rules = Some(a.to_rules().unwrap());
        r.spawn("127.0.0.1:0").unwrap()
    };
    let (arma_server, dayz_server) = (serve(&arma3()), serve(&dayz));
    let mut client = Client::builder().timeout(Duration::from_secs(3)).build();
    assert_eq!(client.arma_rules(arma_server.local_addr()).unwrap(), arma3());
    assert_eq!(client.arma_rules(dayz_server.local_addr()).unwrap(), dayz);
    let free = a2s_query::arma_rules(dayz_server.local_addr(), Duration::from_secs(3), Encoding::Utf8).unwrap();
    assert_eq!(free, dayz);
    let mut batch = Batch::builder().timeout(Duration::from_secs(3)).build().unwrap();
    let mut got: Vec<_> = batch.arma_rules([arma_server.local_addr(), dayz_server.local_addr()]).collect();
    got.sort_by_key(|(a, _)| *a == dayz_server.local_addr());
    assert_eq!(got[0].1.as_ref().unwrap(), &arma3());
    assert_eq!(got[1].1.as_ref().unwrap(), &dayz);
}

/// A message written out byte by byte (not by the encoder): every field read from
/// known bytes, escapes undone, including a literal `01 02` inside a hash.
/// The chunks' escaping as the format describes it, written here on its own so the
/// decoder is checked against an independent encoder: `01` → `01 01`, `00` → `01 02`,
/// `FF` → `01 03`.
fn escape(message: &[u8], out: &mut Vec<u8>) {
    for &b in message {
        match b {
            0x01 => out.extend([0x01, 0x01]),
            0x00 => out.extend([0x01, 0x02]),
            0xFF => out.extend([0x01, 0x03]),
            other => out.push(other),
        }
    }
}

#[test]
fn a_hand_written_message_decodes_field_by_field() {
    #[rustfmt::skip]
    let message: &[u8] = &[
        3, 0x03,                 // version 3; flags: mods and signatures overflow
        0x01, 0x08,              // DLC mask 0x0801: Karts, Contact
        0b1001_1011, 0x01,       // difficulty: level 3, AI 3, third person; crosshair
        0x02, 0x01, 0x02, 0x01,  // Karts' hash: 0x01020102 (the literal 01 02 01 02)
        0xFF, 0x00, 0x00, 0xFF,  // Contact's hash
        3,                       // three mods
        1, 0, 0, 0, 0x13, 0x12, 0xA7, 0x19, 0,        // creator DLC, app 1681170, no name
        2, 0, 0, 0, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 3, b'b', b'i', b'g', // an 8-byte id
        3, 0, 0, 0, 0x00, 4, b'l', b'o', b'c', b'l',  // no id: not from the Workshop
        2, 2, b'a', b'3', 0,     // signatures "a3" and ""
    ];
    let mut escaped = Vec::new();
    escape(message, &mut escaped);
    // Karts' hash, 02 01 02 01 on the wire, is sent escaped as 02 01 01 02 01 01: a
    // decoder replacing `01 02` first would read 02 00 ... instead.
    assert!(escaped.windows(6).any(|w| w == [0x02, 0x01, 0x01, 0x02, 0x01, 0x01]), "{escaped:02X?}");
    let rules: Rules<Vec<u8>> = [(vec![1u8, 1], escaped)].into_iter().collect();
    let a = ArmaRules::decode(&rules, Encoding::Utf8).unwrap();
    assert_eq!((a.version, a.flags, a.dlc_mask), (3, 3, 0x0801));
    assert!(a.mods_overflow() && a.signatures_overflow());
    assert_eq!(
        a.dlcs,
        [
            Dlc { bit: 0x0001, name: Some("Karts"), hash: 0x0102_0102 },
            Dlc { bit: 0x0800, name: Some("Contact"), hash: 0xFF00_00FF },
        ]
    );
    let d = a.difficulty.unwrap();
    assert_eq!(
        (d.raw, d.level, d.ai_level, d.advanced_flight_model, d.third_person, d.crosshair),
        ([0x9B, 0x01], 3, 3, false, true, true)
    );
    assert_eq!(
        (a.mods[0].id, a.mods[0].is_dlc, a.mods[0].workshop_id, a.mods[0].name.as_str()),
        (1_681_170, true, None, "")
    );
    assert_eq!(
        (a.mods[1].id, a.mods[1].workshop_id, a.mods[1].name.as_str()),
        (0x0807_0605_0403_0201, Some(0x0807_0605_0403_0201), "big")
    );
    assert_eq!((a.mods[2].id, a.mods[2].workshop_id, a.mods[2].hash), (0, None, 3));
    assert_eq!(a.signatures, ["a3", ""]);
    // Version 1 (DayZ 2021): no difficulty, no description.
    let v1: &[u8] = &[1, 0, 0x01, 0x00, 9, 0, 0, 0, 0, 0];
    let b = ArmaRules::<String>::from_message(v1, Encoding::Utf8).unwrap();
    assert_eq!(
        (b.version, b.difficulty, b.dlcs[0].name, b.dlcs[0].hash, b.description),
        (1, None, Some("Livonia"), 9, None)
    );
    // Version 2 with its description, and without (some servers end after signatures).
    let v2: &[u8] = &[2, 0, 0, 0, 0, 0, 2, b'h', b'i'];
    assert_eq!(ArmaRules::<String>::from_message(v2, Encoding::Utf8).unwrap().description.as_deref(), Some("hi"));
    assert_eq!(ArmaRules::<String>::from_message(&v2[..6], Encoding::Utf8).unwrap().description, None);
    // Bytes past the layout: an error, not a silent guess.
    let e = ArmaRules::<String>::from_message(&[1, 0, 0, 0, 0, 0, 7], Encoding::Utf8).unwrap_err();
    assert!(matches!(e, Error::Malformed { reason, .. } if reason.contains("bytes after")), "{e}");
    // A mod name that is not UTF-8, under the strict decoder.
    let bad: &[u8] = &[1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0xFF, 0];
    assert!(matches!(
        ArmaRules::<String>::from_message(bad, Encoding::Utf8Strict),
        Err(Error::InvalidText { field: "mod name", .. })
    ));
}

/// DayZ's two-letter text rules are not taken for chunks, before or after them.
#[test]
fn two_letter_text_rules_are_not_chunks() {
    let mut dayz = ArmaRules::<String>::default();
    dayz.version = 2;
    dayz.mods = vec![ArmaMod::workshop("m", 1, 2)];
    let mut pairs = vec![(b"ai".to_vec(), b"1".to_vec())];
    pairs.extend(dayz.to_rules().unwrap());
    pairs.push((b"ad".to_vec(), b"2".to_vec()));
    let rules: Rules<Vec<u8>> = pairs.into_iter().collect();
    let a = ArmaRules::decode(&rules, Encoding::Utf8).unwrap();
    assert_eq!(a.mods, dayz.mods);
    let text: Vec<(&str, &str)> = a.rules.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    assert_eq!(text, [("ai", "1"), ("ad", "2")]);
}

/// What the encoder refuses: values that would not read back as themselves.
#[test]
fn the_encoder_refuses_what_would_not_read_back() {
    let fine = arma3();
    let cases: Vec<(&str, ArmaRules)> = vec![
        ("version", {
            let mut arma = fine.clone();
            arma.version = 4;
            arma
        }),
        ("difficulty", {
            let mut arma = fine.clone();
            arma.difficulty = None;
            arma
        }),
        ("difficulty", {
            let mut arma = fine.clone();
            arma.version = 2;
            arma
        }),
        ("description", {
            let mut arma = fine.clone();
            arma.description = Some("x".into());
            arma
        }),
        ("DLC's name", {
            let mut arma = fine.clone();
            arma.dlcs = vec![Dlc { name: Some("Apex"), ..fine.dlcs[0] }, fine.dlcs[1], fine.dlcs[2]];
            arma
        }),
        ("one per set bit", {
            let mut arma = fine.clone();
            arma.dlcs = vec![];
            arma
        }),
        ("workshop_id", {
            let mut arma = fine.clone();
            let mut unmarked = fine.mods[0].clone();
            unmarked.workshop_id = None;
            arma.mods = vec![unmarked];
            arma
        }),
        ("named like a chunk", {
            let mut arma = fine.clone();
            arma.rules = vec![("\u{1}\u{2}".into(), "x".into())];
            arma
        }),
    ];
    for (what, value) in cases {
        let e = value.to_rules().unwrap_err();
        assert!(matches!(&e, Error::Unencodable(m) if m.contains(what)), "{what}: {e}");
    }
    assert_eq!(ArmaMod::<String>::workshop("local", 0, 0).workshop_id, None, "id 0 is not a Workshop id");
}

/// The decoded value as JSON: its fields under their names, DLC names included.
#[test]
#[cfg(feature = "serde")]
fn the_decoded_value_serializes() {
    let v = serde_json::to_value(arma3()).unwrap();
    assert_eq!(v["version"], 3);
    assert_eq!(v["dlcs"][1]["name"], "Contact");
    assert_eq!(v["difficulty"]["raw"], serde_json::json!([0b1101_1010, 1]));
    assert_eq!(v["mods"][0]["workshop_id"], 450_814_997u64);
    assert_eq!(v["mods"][1]["is_dlc"], true);
    assert_eq!(v["signatures"][1], "cba_3.18.4.250711");
    assert_eq!(v["truncated"], false);
}
