//! One query's state machine, scripted: datagrams handed in by hand, time advanced by
//! hand. No sockets, no sleeping: every outcome and every instant is exact.

mod common;

use common::goldsrc_reply;
use std::time::{Duration, Instant};

use a2s_query::proto::{
    encode_challenge, encode_rules, split_packet, Challenge, Exchange, ExchangeConfig, Info, InfoReplies, Learned,
    Players, Query, Rules, SourceInfo, SplitFormat,
};
use a2s_query::{Encoding, Error, Limits, Stray};

/// How long a finished query drains when no round trip of its server is known (documented
/// on `Exchange::draining`).
const DRAIN_UNKNOWN_ROUND_TRIP: Duration = Duration::from_millis(250);
const C1: Challenge = Challenge([0x11, 0x22, 0x33, 0x44]);
const C2: Challenge = Challenge([0x55, 0x66, 0x77, 0x88]);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config(timeout_ms: u64, retries: u8) -> ExchangeConfig {
    let mut config = ExchangeConfig::default();
    config.timeout = ms(timeout_ms);
    config.retries = retries;
    config
}

fn challenge(c: Challenge) -> Vec<u8> {
    let mut out = Vec::new();
    encode_challenge(c, &mut out);
    out
}

fn info_reply(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut info = SourceInfo::default();
    info.server_name = name.to_string();
    info.app_id = 240;
    info.protocol = 7;
    info.encode(&mut out).unwrap();
    out
}

fn rule_set(n: usize, tag: &str) -> Vec<(String, String)> {
    (0..n).map(|i| (format!("{tag}_{i}"), "v".repeat(i % 13))).collect()
}

fn rules_reply(n: usize, tag: &str) -> Vec<u8> {
    let mut out = Vec::new();
    encode_rules(rule_set(n, tag), &mut out).unwrap();
    out
}

fn players_reply() -> Vec<u8> {
    let mut out = Vec::new();
    a2s_query::proto::encode_players::<String>(&[], a2s_query::proto::ShipLayout::Trailing, &mut out).unwrap();
    out
}

/// A scripted exchange: a start instant and the machine.
struct Script<T> {
    start: Instant,
    ex: Exchange<T, Encoding>,
}

impl<T: a2s_query::proto::Answer<Encoding> + std::fmt::Debug> Script<T> {
    fn new(config: ExchangeConfig, learned: Learned) -> Self {
        let start = Instant::now();
        Script { start, ex: Exchange::new(config, Encoding::Utf8, learned, start) }
    }

    fn at(&self, t: u64) -> Instant {
        self.start + ms(t)
    }

    /// The request due at `t` ms, parsed.
    fn sends(&mut self, t: u64) -> Query {
        let at = self.at(t);
        let request = self.ex.poll_transmit(at).unwrap_or_else(|| panic!("no request due at {t} ms"));
        Query::parse(&request).unwrap()
    }

    fn sends_nothing(&mut self, t: u64) {
        let at = self.at(t);
        assert_eq!(self.ex.poll_transmit(at), None, "a request at {t} ms");
    }

    fn gets(&mut self, t: u64, datagram: &[u8]) {
        let at = self.at(t);
        self.ex.handle_datagram(datagram, at);
    }

    fn wakes_at(&self) -> Option<u64> {
        self.ex.poll_timeout().map(|w| w.duration_since(self.start).as_millis() as u64)
    }

    /// Wakes the machine at `t` ms, as a driver whose wait ran out.
    fn wakes(&mut self, t: u64) {
        let at = self.at(t);
        self.ex.handle_timeout(at);
    }

    fn pending(&mut self) {
        assert!(!self.ex.is_done(), "done early");
    }

    fn answer(&mut self) -> T {
        match self.ex.poll_outcome() {
            Some(Ok(v)) => v,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    fn error(&mut self) -> Error {
        match self.ex.poll_outcome() {
            Some(Err(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

fn rules_script(config: ExchangeConfig) -> Script<Rules> {
    Script::new(config, Learned::default())
}

fn info_script(config: ExchangeConfig) -> Script<Info> {
    Script::new(config, Learned::default())
}

fn split(reply: &[u8], id: u32, format: SplitFormat, size: usize) -> Vec<Vec<u8>> {
    split_packet(reply, id, format, size, false).unwrap()
}

// ---- challenges ----

#[test]
fn info_answered_at_once() {
    let mut s = info_script(config(3000, 0));
    assert_eq!(s.sends(0), Query::Info(None));
    s.sends_nothing(0);
    s.gets(40, &info_reply("direct"));
    let info = s.answer();
    assert_eq!(info.server_name(), "direct");
    assert_eq!(info.ping(), ms(40));
    assert_eq!(s.ex.poll_outcome().map(|r| r.is_ok()), None, "the outcome is taken once");
    assert!(s.ex.is_done());
    assert_eq!(s.ex.poll_timeout(), None);
}

#[test]
fn challenge_then_answer() {
    let mut s = rules_script(config(3000, 0));
    assert_eq!(s.sends(0), Query::Rules(Challenge::REQUEST));
    s.gets(30, &challenge(C1));
    assert_eq!(s.sends(30), Query::Rules(C1));
    s.gets(70, &rules_reply(3, "r"));
    assert_eq!(Vec::from(s.answer()), rule_set(3, "r"));
    assert_eq!(s.ex.learned().challenge, Some(C1));
    assert_eq!(s.ex.learned().round_trip, Some(ms(40)));
}

#[test]
fn info_challenge_is_appended_to_the_payload() {
    let mut s = info_script(config(3000, 0));
    assert_eq!(s.sends(0), Query::Info(None));
    s.gets(10, &challenge(C1));
    assert_eq!(s.sends(10), Query::Info(Some(C1)));
    s.gets(20, &info_reply("challenged"));
    assert_eq!(s.answer().ping(), ms(10), "the ping is the answered request's round trip");
}

#[test]
fn remembered_challenge_goes_with_the_first_request() {
    let mut learned = Learned::default();
    learned.challenge = Some(C1);
    let mut s: Script<Players> = Script::new(config(3000, 0), learned);
    assert_eq!(s.sends(0), Query::Players(C1));
    s.gets(25, &players_reply());
    assert_eq!(s.answer().count, 0);

    let mut off = config(3000, 0);
    off.reuse_challenge = false;
    let mut s: Script<Players> = Script::new(off, learned);
    assert_eq!(s.sends(0), Query::Players(Challenge::REQUEST));
}

#[test]
fn rotated_challenge_is_a_new_round() {
    let mut learned = Learned::default();
    learned.challenge = Some(C1);
    let mut s: Script<Rules> = Script::new(config(3000, 0), learned);
    assert_eq!(s.sends(0), Query::Rules(C1));
    s.gets(20, &challenge(C2));
    assert_eq!(s.sends(20), Query::Rules(C2));
    s.gets(40, &rules_reply(1, "x"));
    assert_eq!(s.answer().len(), 1);
    assert_eq!(s.ex.learned().challenge, Some(C2));
}

#[test]
fn data_instead_of_a_challenge_is_the_answer() {
    let mut s: Script<Players> = Script::new(config(3000, 0), Learned::default());
    assert_eq!(s.sends(0), Query::Players(Challenge::REQUEST));
    s.gets(15, &players_reply());
    assert_eq!(s.answer().entries.len(), 0);
}

#[test]
fn distinct_challenges_stop_after_the_round_limit() {
    let mut s = rules_script(config(3000, 0));
    s.sends(0);
    for round in 0..5u32 {
        s.gets(10 + u64::from(round), &challenge(Challenge((round + 1).to_le_bytes())));
        assert_eq!(s.sends(10 + u64::from(round)), Query::Rules(Challenge((round + 1).to_le_bytes())));
    }
    s.gets(20, &challenge(Challenge(99u32.to_le_bytes())));
    assert!(matches!(s.error(), Error::TooManyChallenges { rounds: 5 }));
}

/// Bug: a challenge delivered twice made the client resend and count a round each
/// time, so a few copies ended in `TooManyChallenges` although the server answers.
#[test]
fn repeated_identical_challenge_does_not_burn_a_round() {
    let mut s = rules_script(config(3000, 0));
    s.sends(0);
    s.gets(10, &challenge(C1));
    assert_eq!(s.sends(10), Query::Rules(C1));
    for t in 11..30 {
        s.gets(t, &challenge(C1));
        s.sends_nothing(t);
    }
    s.pending();
    s.gets(40, &rules_reply(2, "after copies"));
    assert_eq!(Vec::from(s.answer()), rule_set(2, "after copies"));
}

#[test]
fn challenge_sent_as_a_split_reply() {
    let mut s = rules_script(config(3000, 0));
    s.sends(0);
    for f in split(&challenge(C1), 5, SplitFormat::Source, 4) {
        s.gets(5, &f);
    }
    assert_eq!(s.sends(5), Query::Rules(C1));
    s.gets(9, &rules_reply(1, "s"));
    assert_eq!(s.answer().len(), 1);
}

// ---- retries and the deadline ----

#[test]
fn retries_share_out_the_time_left() {
    let mut s = rules_script(config(3000, 2));
    s.sends(0);
    // Three attempts over 3 s: a resend at 1 s, then at 1 s + (2 s / 2).
    assert_eq!(s.wakes_at(), Some(1000));
    s.wakes(999);
    s.sends_nothing(999);
    s.wakes(1000);
    assert_eq!(s.sends(1000), Query::Rules(Challenge::REQUEST));
    assert_eq!(s.wakes_at(), Some(2000));
    s.wakes(2000);
    s.sends(2000);
    assert_eq!(s.wakes_at(), Some(3000), "no retry left: the deadline");
    s.wakes(2999);
    s.pending();
    s.wakes(3000);
    assert!(matches!(s.error(), Error::Timeout { fragments: None, timeout, .. } if timeout == ms(3000)));
}

#[test]
fn a_retry_resends_the_challenged_request() {
    let mut s = rules_script(config(2000, 1));
    s.sends(0);
    s.gets(100, &challenge(C1));
    assert_eq!(s.sends(100), Query::Rules(C1));
    // 1900 ms left, two attempts: a resend 950 ms after the challenged request.
    assert_eq!(s.wakes_at(), Some(1050));
    s.wakes(1050);
    assert_eq!(s.sends(1050), Query::Rules(C1));
    s.gets(1100, &rules_reply(1, "late"));
    assert_eq!(s.answer().len(), 1);
}

#[test]
fn no_reply_is_a_timeout_at_the_deadline_exactly() {
    let mut s = info_script(config(500, 0));
    s.sends(0);
    assert_eq!(s.wakes_at(), Some(500));
    s.wakes(499);
    s.pending();
    s.wakes(500);
    assert!(matches!(s.error(), Error::Timeout { .. }));
}

#[test]
fn a_reply_after_the_deadline_is_not_taken() {
    let mut s = info_script(config(500, 0));
    s.sends(0);
    s.gets(501, &info_reply("too late"));
    assert!(matches!(s.error(), Error::Timeout { .. }));
}

#[test]
fn zero_timeout_ends_at_once() {
    let mut s = info_script(config(0, 3));
    // Past its deadline already: nothing is sent, the exchange is over.
    s.sends_nothing(0);
    assert_eq!(s.wakes_at(), None);
    assert!(matches!(s.error(), Error::Timeout { .. }));
    assert_eq!(s.ex.draining(), None, "nothing sent, nothing owed");
}

#[test]
fn a_request_due_past_the_deadline_is_not_sent() {
    let mut s = info_script(config(100, 0));
    s.sends(0);
    s.gets(10, &challenge(C1));
    // The driver comes back to send the challenged request too late.
    s.sends_nothing(100);
    assert!(s.error().is_timeout());
    assert_eq!(s.ex.draining(), None);
}

#[test]
fn an_incomplete_split_reply_times_out_with_its_progress() {
    let mut s = rules_script(config(1000, 0));
    s.sends(0);
    let f = split(&rules_reply(200, "r"), 9, SplitFormat::Source, 500);
    for d in &f[..f.len() - 1] {
        s.gets(10, d);
    }
    s.wakes(1000);
    let total = f.len() as u8;
    assert!(matches!(s.error(), Error::Timeout { fragments: Some((got, t)), .. } if got == total - 1 && t == total));
}

/// Bug: fragments of other message ids counted as progress and kept postponing the
/// resend.
#[test]
fn fragments_of_other_ids_do_not_postpone_the_resend() {
    let mut s = rules_script(config(1000, 1));
    s.sends(0);
    assert_eq!(s.wakes_at(), Some(500));
    let decoy = rules_reply(200, "decoy");
    for (i, id) in (100..120u32).enumerate() {
        s.gets(300 + i as u64, &split(&decoy, id, SplitFormat::Source, 500)[1]);
    }
    assert_eq!(s.wakes_at(), Some(500), "the resend still falls due");
    s.wakes(500);
    s.sends(500);
}

#[test]
fn a_split_reply_arriving_postpones_the_resend() {
    let mut s = rules_script(config(1000, 1));
    s.sends(0);
    let f = split(&rules_reply(200, "r"), 9, SplitFormat::Source, 500);
    s.gets(400, &f[0]);
    s.gets(450, &f[1]);
    // 550 ms left at 450 ms, shared by the two attempts: 725 ms.
    assert_eq!(s.wakes_at(), Some(725));
    for d in &f[2..] {
        s.gets(460, d);
    }
    assert_eq!(Vec::from(s.answer()), rule_set(200, "r"));
}

// ---- the ping ----

/// Bug: after a retry the ping was measured from the last send even when the earlier
/// request was the one answered.
#[test]
fn ping_after_a_retry_counts_from_the_request_answered() {
    let mut learned = Learned::default();
    learned.round_trip = Some(ms(300));
    // Retries every 250 ms against a 300 ms round trip: the first request's answer
    // comes 50 ms after the retry.
    let mut s: Script<Info> = Script::new(config(1000, 3), learned);
    s.sends(0);
    s.wakes(250);
    s.sends(250);
    s.gets(300, &info_reply("slow"));
    assert_eq!(s.answer().ping(), ms(300));

    // The first request lost: the retry's answer comes a round trip after it.
    let mut s: Script<Info> = Script::new(config(1000, 3), learned);
    s.sends(0);
    s.wakes(250);
    s.sends(250);
    s.gets(560, &info_reply("lossy"));
    // Either copy may be the one answered (Karn's rule): the round trip known before,
    // and no sample learned from this reply.
    assert_eq!(s.answer().ping(), ms(300));
    assert_eq!(s.ex.learned().round_trip, Some(ms(300)));
}

/// Karn's rule: the challenged request went out twice, so the reply is no sample; the
/// challenge's own round trip (one request, one reply) is the ping.
#[test]
fn a_retried_requests_ping_is_the_challenge_round_trip() {
    let mut s = info_script(config(1000, 3));
    s.sends(0);
    s.gets(200, &challenge(C1));
    s.sends(200);
    assert_eq!(s.wakes_at(), Some(200 + 800 / 4));
    s.wakes(400);
    s.sends(400);
    s.gets(410, &info_reply("first copy"));
    assert_eq!(s.answer().ping(), ms(200));
    assert_eq!(s.ex.learned().round_trip, Some(ms(200)), "the challenge's sample, not the reply's");
}

/// Bug: after a retry on first contact the ping counted from the last send: 96 ms
/// reported for a true 600 ms.
#[test]
fn a_retried_first_contact_reports_the_time_since_the_first_request() {
    let mut s = info_script(config(3000, 5));
    s.sends(0);
    s.wakes(500);
    s.sends(500);
    s.gets(600, &info_reply("slow"));
    assert_eq!(s.answer().ping(), ms(600), "an upper bound, never a guess from the last copy");
    assert_eq!(s.ex.learned().round_trip, None, "no sample from a request sent twice");
    assert_eq!(s.ex.learned().min_round_trip, None);
}

// ---- late replies of earlier queries ----

/// A double-answering server's `0x6D` trailing its `0x49` by 20 ms reaches the next
/// query 20 ms after its request: with a 100 ms round trip, it cannot answer it.
#[test]
fn a_reply_too_soon_after_the_request_is_stale() {
    let mut learned = Learned::default();
    learned.round_trip = Some(ms(100));
    learned.min_round_trip = Some(ms(100));
    learned.owed = true;
    let mut s: Script<Info> = Script::new(config(3000, 0), learned);
    s.sends(0);
    s.gets(20, &goldsrc_reply("previous query"));
    s.pending();
    assert_eq!(s.ex.strays(), 1);
    s.gets(100, &info_reply("this query"));
    let info = s.answer();
    assert_eq!(info.server_name(), "this query");
    assert_eq!(info.ping(), ms(100));
}

/// The same server with the `0x6D` trailing by 100 ms (past half the round trip): it
/// is held, and the fresh `0x49` wins; the server is then known to send both.
#[test]
fn a_trailing_goldsrc_reply_100_ms_late_loses_to_the_fresh_source_reply() {
    let mut learned = Learned::default();
    learned.round_trip = Some(ms(150));
    learned.min_round_trip = Some(ms(150));
    learned.owed = true;
    let mut s: Script<Info> = Script::new(config(3000, 0), learned);
    s.sends(0);
    s.gets(100, &goldsrc_reply("previous query"));
    s.pending();
    s.gets(150, &info_reply("this query"));
    let info = s.answer();
    assert_eq!(info.server_name(), "this query");
    assert_eq!(info.ping(), ms(150));
    assert_eq!(s.ex.learned().info_replies, InfoReplies::Both);
    assert_eq!(s.ex.draining(), None, "its second reply came");
    assert_eq!(s.ex.learned().min_round_trip, Some(ms(150)), "the held reply was no sample");
}

#[test]
fn a_query_that_timed_out_after_stale_replies_forgets_the_shortest_round_trip() {
    let mut learned = Learned::default();
    learned.round_trip = Some(ms(400));
    learned.min_round_trip = Some(ms(400));
    learned.owed = true;
    let mut s: Script<Info> = Script::new(config(1000, 0), learned);
    s.sends(0);
    // The server got closer: its real answer now looks too early.
    s.gets(50, &info_reply("closer"));
    s.wakes(1000);
    let error = s.error();
    assert!(error.to_string().contains("too soon after the request"), "{error}");
    assert_eq!(s.ex.learned().min_round_trip, None);

    let mut s: Script<Info> = Script::new(config(1000, 0), s.ex.learned());
    s.sends(0);
    s.gets(50, &info_reply("closer"));
    assert_eq!(s.answer().ping(), ms(50));
}

/// A server that answered every query owes nothing: its reply, however much sooner
/// than its shortest round trip so far (a game server answers within a frame: 30 ms
/// one time, 2 ms the next), answers the query. Left owed, the same reply is refused.
#[test]
fn a_faster_reply_is_refused_only_when_an_earlier_query_is_owed() {
    let mut s = info_script(config(3000, 0));
    s.sends(0);
    s.gets(60, &info_reply("first"));
    s.answer();
    let learned = s.ex.learned();
    assert_eq!((learned.min_round_trip, learned.owed), (Some(ms(60)), false));

    let mut s: Script<Info> = Script::new(config(3000, 0), learned);
    s.sends(0);
    s.gets(2, &info_reply("within a frame"));
    assert_eq!(s.answer().ping(), ms(2));

    // Had the query before been dropped with its request unanswered, a reply this soon
    // may be that one's: refused.
    let mut s: Script<Info> = Script::new(config(3000, 0), learned);
    s.sends(0);
    let owed = s.ex.learned();
    assert!(owed.owed && owed.min_round_trip == Some(ms(60)), "dropped now, its request would be owed");
    let mut s: Script<Info> = Script::new(config(3000, 0), owed);
    s.sends(0);
    s.gets(2, &info_reply("the dropped one's"));
    s.pending();
    assert_eq!(s.ex.strays(), 1);
}

// ---- what a query leaves owed ----

#[test]
fn draining_counts_the_replies_still_owed() {
    // Answered at once: nothing owed.
    let mut s = info_script(config(1000, 0));
    s.sends(0);
    s.gets(40, &info_reply("x"));
    s.answer();
    assert_eq!(s.ex.draining(), None);

    // Two copies sent, one answer: one owed, for two round trips.
    let mut s = info_script(config(1000, 1));
    s.sends(0);
    s.wakes(500);
    s.sends(500);
    s.gets(540, &info_reply("x"));
    s.answer();
    let mut learned = Learned::default();
    learned.round_trip = Some(ms(40));
    let mut s2: Script<Info> = Script::new(config(1000, 1), learned);
    s2.sends(0);
    s2.wakes(500);
    s2.sends(500);
    s2.gets(540, &info_reply("x"));
    s2.answer();
    let d = s2.ex.draining().expect("one copy unanswered");
    assert_eq!((d.replies, d.window), (1, ms(80)));
    let d = s.ex.draining().expect("one copy unanswered");
    assert_eq!((d.replies, d.window), (1, DRAIN_UNKNOWN_ROUND_TRIP), "no round trip known");

    // A timeout: the request is owed.
    let mut s = info_script(config(300, 0));
    s.sends(0);
    s.wakes(300);
    s.error();
    assert_eq!(s.ex.draining().map(|d| d.replies), Some(1));

    // A server known to send both, answered by its `0x49` first: its `0x6D` is not
    // counted (a later info query holds it until its own `0x49`).
    let mut learned = Learned::default();
    learned.info_replies = InfoReplies::Both;
    learned.round_trip = Some(ms(2));
    let mut s: Script<Info> = Script::new(config(1000, 0), learned);
    s.sends(0);
    s.gets(2, &info_reply("new first"));
    s.answer();
    assert_eq!(s.ex.draining(), None);
}

// ---- a remembered challenge ----

/// Bug: a server that silently drops stale challenges made every later poll of a
/// reusing client time out.
#[test]
fn a_remembered_challenge_met_by_silence_is_dropped_from_the_retry_and_forgotten() {
    let mut learned = Learned::default();
    learned.challenge = Some(C1);
    let mut s: Script<Players> = Script::new(config(1000, 1), learned);
    assert_eq!(s.sends(0), Query::Players(C1));
    s.wakes(500);
    assert_eq!(s.sends(500), Query::Players(Challenge::REQUEST), "a fresh challenge asked for");
    assert_eq!(s.ex.learned().challenge, None);
    s.gets(520, &challenge(C2));
    assert_eq!(s.sends(520), Query::Players(C2));
    s.gets(540, &players_reply());
    s.answer();
    assert_eq!(s.ex.learned().challenge, Some(C2));

    // With no retry: forgotten at the timeout, so the next query asks afresh.
    let mut s: Script<Players> = Script::new(config(1000, 0), learned);
    assert_eq!(s.sends(0), Query::Players(C1));
    s.wakes(1000);
    assert!(s.error().is_timeout());
    assert_eq!(s.ex.learned().challenge, None);

    // Answered: kept.
    let mut s: Script<Players> = Script::new(config(1000, 0), learned);
    s.sends(0);
    s.gets(30, &players_reply());
    s.answer();
    assert_eq!(s.ex.learned().challenge, Some(C1));
}

// ---- broken replies ----

/// Bug: one datagram of the asked type that did not parse ended the call, though the
/// good reply followed 5 ms later.
#[test]
fn a_reply_that_does_not_parse_is_held_while_a_good_one_may_come() {
    let broken = b"\xFF\xFF\xFF\xFFI\x11broken";
    let mut s = info_script(config(1000, 0));
    s.sends(0);
    s.gets(10, broken);
    s.pending();
    s.gets(15, &info_reply("good"));
    assert_eq!(s.answer().server_name(), "good");

    // None comes: the error names the bad reply, at the deadline.
    let mut s = info_script(config(1000, 0));
    s.sends(0);
    s.gets(10, broken);
    s.wakes(999);
    s.pending();
    s.wakes(1000);
    let error = s.error();
    assert!(error.is_broken_reply(), "{error:?}");
}

// ---- strays ----

#[test]
fn junk_and_other_types_are_skipped() {
    let mut s = rules_script(config(1000, 0));
    s.sends(0);
    for junk in [&b"HTTP/1.1 400"[..], &[], &[0xFF; 3], &[0; 64], b"\xFD\xFF\xFF\xFFx", &players_reply()] {
        s.gets(5, junk);
    }
    s.pending();
    assert_eq!(s.ex.strays(), 6);
    s.gets(6, &rules_reply(2, "r"));
    assert_eq!(s.answer().len(), 2);
}

#[test]
fn too_many_strays_end_the_call() {
    let mut s = rules_script(config(1000, 0));
    s.sends(0);
    for i in 0..256 {
        s.gets(1, &[i as u8; 7]);
    }
    s.pending();
    s.gets(1, b"one more");
    assert!(matches!(s.error(), Error::TooManyStrayDatagrams { count: 257 }));
}

/// The state-machine half of the stale-reply bug: nothing handed in before the first
/// request went out can answer it.
#[test]
fn nothing_before_the_first_request_answers_it() {
    let mut s = info_script(config(1000, 0));
    s.gets(0, &goldsrc_reply("left over"));
    s.gets(0, &info_reply("left over too"));
    assert_eq!(s.ex.strays(), 2);
    s.sends(1);
    s.gets(51, &info_reply("fresh"));
    let info = s.answer();
    assert_eq!(info.server_name(), "fresh");
    assert_eq!(info.ping(), ms(50));
}

// ---- the GoldSrc / Source preference ----

#[test]
fn source_reply_wins_when_it_follows_a_goldsrc_one() {
    let mut s = info_script(config(3000, 0));
    s.sends(0);
    s.gets(100, &goldsrc_reply("old"));
    // A server not met before: the spec's grace, whatever the round trip.
    assert_eq!(s.wakes_at(), Some(100 + 300));
    s.gets(120, &info_reply("new"));
    let info = s.answer();
    assert_eq!(info.server_name(), "new");
    assert!(info.as_source().is_some());
    assert_eq!(info.ping(), ms(120), "the round trip of the reply given");
    assert_eq!(s.ex.learned().info_replies, InfoReplies::Both);
}

/// Bug: the grace was half the held reply's own round trip (at least 30 ms), so an
/// HLDS `0x49` sent with the next server frame, 100 ms after the `0x6D`, lost to it.
#[test]
fn a_source_reply_100_ms_after_the_goldsrc_one_wins_on_first_contact() {
    let mut s = info_script(config(3000, 0));
    s.sends(0);
    s.gets(2, &goldsrc_reply("engine"));
    s.wakes(101);
    s.pending();
    s.gets(102, &info_reply("steam library"));
    assert_eq!(s.answer().server_name(), "steam library");
}

#[test]
fn a_server_that_sent_only_goldsrc_after_a_full_wait_is_not_waited_for_again() {
    let mut s = info_script(config(3000, 0));
    s.sends(0);
    s.gets(2, &goldsrc_reply("hltv"));
    assert_eq!(s.wakes_at(), Some(302));
    s.wakes(301);
    s.pending();
    s.wakes(302);
    let info = s.answer();
    assert_eq!(info.server_name(), "hltv");
    assert_eq!(info.ping(), ms(2));
    let learned = s.ex.learned();
    assert_eq!(learned.info_replies, InfoReplies::GoldSrcOnly);

    let mut s: Script<Info> = Script::new(config(3000, 0), learned);
    s.sends(0);
    s.gets(2, &goldsrc_reply("hltv again"));
    assert_eq!(s.answer().server_name(), "hltv again", "taken at once");
}

#[test]
fn a_wait_cut_by_the_deadline_teaches_nothing() {
    let mut s = info_script(config(200, 0));
    s.sends(0);
    s.gets(50, &goldsrc_reply("cut"));
    assert_eq!(s.wakes_at(), Some(200));
    s.wakes(200);
    assert_eq!(s.answer().server_name(), "cut");
    assert_eq!(s.ex.learned().info_replies, InfoReplies::Unknown);
}

#[test]
fn a_server_known_to_send_both_is_waited_for_until_its_source_reply() {
    let mut learned = Learned::default();
    learned.info_replies = InfoReplies::Both;
    let mut s: Script<Info> = Script::new(config(3000, 0), learned);
    s.sends(0);
    s.gets(10, &goldsrc_reply("old"));
    assert_eq!(s.wakes_at(), Some(3000), "to the deadline");
    s.wakes(900);
    s.pending();
    s.gets(910, &info_reply("new"));
    assert_eq!(s.answer().server_name(), "new");

    // No Source reply at all this time: the GoldSrc one at the deadline, not a timeout.
    let mut s: Script<Info> = Script::new(config(1000, 0), learned);
    s.sends(0);
    s.gets(10, &goldsrc_reply("only old"));
    s.wakes(1000);
    assert_eq!(s.answer().server_name(), "only old");
    assert_eq!(s.ex.learned().info_replies, InfoReplies::Unknown, "known no longer");
    assert_eq!(s.ex.draining().map(|d| d.replies), Some(1), "its Source reply may still come");
}

#[test]
fn the_first_contact_grace_grows_with_a_long_known_round_trip() {
    let mut learned = Learned::default();
    learned.round_trip = Some(ms(400));
    let mut s: Script<Info> = Script::new(config(3000, 0), learned);
    s.sends(0);
    s.gets(400, &goldsrc_reply("far"));
    assert_eq!(s.wakes_at(), Some(400 + 800));
}

#[test]
fn goldsrc_grace_can_be_set_and_never_passes_the_deadline() {
    let mut fixed = config(1000, 0);
    fixed.goldsrc_grace = Some(ms(300));
    let mut s = info_script(fixed);
    s.sends(0);
    s.gets(10, &goldsrc_reply("x"));
    assert_eq!(s.wakes_at(), Some(310));

    let mut s = info_script(fixed);
    s.sends(0);
    s.gets(900, &goldsrc_reply("x"));
    assert_eq!(s.wakes_at(), Some(1000));
    s.wakes(1000);
    assert_eq!(s.answer().server_name(), "x", "a held reply is the answer at the deadline");

    let mut zero = config(1000, 0);
    zero.goldsrc_grace = Some(Duration::ZERO);
    let mut s = info_script(zero);
    s.sends(0);
    s.gets(10, &goldsrc_reply("first"));
    assert_eq!(s.answer().server_name(), "first");
}

/// Bug: a `0x49` that failed to parse threw away a valid held `0x6D`.
#[test]
fn a_broken_source_reply_keeps_the_held_goldsrc_one() {
    let mut s = info_script(config(3000, 0));
    s.sends(0);
    s.gets(20, &goldsrc_reply("held"));
    s.gets(25, b"\xFF\xFF\xFF\xFFI\x11broken");
    assert_eq!(s.answer().server_name(), "held");
}

#[test]
fn a_second_goldsrc_reply_does_not_replace_the_first() {
    let mut s = info_script(config(3000, 0));
    s.sends(0);
    s.gets(20, &goldsrc_reply("first"));
    s.gets(21, &goldsrc_reply("second"));
    s.wakes(320);
    assert_eq!(s.answer().server_name(), "first");
}

#[test]
fn a_held_reply_stops_the_retries() {
    let mut held = config(1000, 1);
    held.goldsrc_grace = Some(ms(400));
    let mut s = info_script(held);
    s.sends(0);
    s.gets(100, &goldsrc_reply("held"));
    s.wakes(500);
    s.sends_nothing(500);
    s.wakes(500);
    assert_eq!(s.answer().server_name(), "held");
}

#[test]
fn the_info_reply_teaches_the_split_layout() {
    let mut s = info_script(config(1000, 0));
    s.sends(0);
    s.gets(10, &info_reply("css"));
    s.answer();
    assert_eq!(s.ex.learned().split_hint, SplitFormat::SourceWithoutSize, "app 240 at protocol 7");
}

// ---- split replies ----

/// Bug: one bad fragment (total 0, of any message id) aborted the call.
#[test]
fn a_fragment_of_zero_total_is_a_stray() {
    let mut s = rules_script(config(1000, 0));
    s.sends(0);
    s.gets(5, b"\xFE\xFF\xFF\xFF\x63\x00\x00\x00\x00\x00\xE0\x04junk");
    let f = split(&rules_reply(100, "real"), 7, SplitFormat::Source, 600);
    for d in &f {
        s.gets(6, d);
    }
    assert_eq!(Vec::from(s.answer()), rule_set(100, "real"));
    assert_eq!(s.ex.strays(), 1);
}

/// Bug: a stale fragment declaring 200 parts ended the call with `TooManyFragments`.
#[test]
fn a_stale_fragment_of_200_parts_is_a_stray() {
    let mut s = rules_script(config(1000, 0));
    s.sends(0);
    let mut stale = split(&rules_reply(100, "stale"), 3, SplitFormat::Source, 600)[0].clone();
    stale[8] = 200;
    s.gets(5, &stale);
    for d in &split(&rules_reply(100, "real"), 7, SplitFormat::Source, 600) {
        s.gets(6, d);
    }
    assert_eq!(Vec::from(s.answer()), rule_set(100, "real"));
}

#[test]
fn a_refused_fragment_is_told_at_the_deadline() {
    let mut s = rules_script(config(1000, 0));
    s.sends(0);
    let mut f = split(&rules_reply(100, "real"), 7, SplitFormat::Source, 600);
    f[0][8] = 200;
    for d in &f {
        s.gets(6, d);
    }
    s.pending();
    s.wakes(1000);
    assert!(matches!(s.error(), Error::TooManyFragments { total: 200, max: 128 }));
}

/// Bug: a short datagram carrying an in-progress reply's id destroyed that reply.
#[test]
fn a_short_datagram_with_the_replys_id_does_not_destroy_it() {
    let mut s = rules_script(config(1000, 0));
    s.sends(0);
    let f = split(&rules_reply(100, "real"), 7, SplitFormat::Source, 600);
    s.gets(5, &f[0]);
    s.gets(5, &f[1]);
    // Same id (7), cut inside the header.
    s.gets(6, b"\xFE\xFF\xFF\xFF\x07\x00\x00\x00\x03");
    for d in &f[2..] {
        s.gets(7, d);
    }
    assert_eq!(Vec::from(s.answer()), rule_set(100, "real"));
}

/// Bug: copies of fragment 1 arriving before fragment 0 filled the unknown-layout
/// store and failed the call with an invented `total: 255`.
#[test]
fn hundreds_of_copies_before_fragment_0_are_deduplicated() {
    for format in [SplitFormat::Source, SplitFormat::SourceWithoutSize, SplitFormat::GoldSrc] {
        let mut s = rules_script(config(1000, 0));
        s.sends(0);
        let f = split(&rules_reply(100, "real"), 7, format, 600);
        // Copies are strays: 250 stay under the default limit of 256.
        for _ in 0..250 {
            s.gets(5, &f[1]);
        }
        for d in &f {
            s.gets(6, d);
        }
        assert_eq!(Vec::from(s.answer()), rule_set(100, "real"), "{format:?}");
    }
}

#[test]
fn hundreds_of_duplicate_fragments_then_the_reply() {
    let mut s = rules_script(config(1000, 0));
    s.sends(0);
    let f = split(&rules_reply(120, "real"), 7, SplitFormat::Source, 700);
    for _ in 0..250 {
        s.gets(5, &f[0]);
    }
    for d in &f {
        s.gets(6, d);
    }
    assert_eq!(Vec::from(s.answer()), rule_set(120, "real"));
}

/// Bug: a Source split whose fragment 0 lacks the inner `FF FF FF FF` never completed
/// under the automatic layout.
#[test]
fn fragment_0_without_the_inner_header_completes() {
    let reply = rules_reply(100, "bare");
    let bare = &reply[4..];
    for (format, learned) in [
        (SplitFormat::Source, Learned::default()),
        (SplitFormat::GoldSrc, Learned::default()),
        (SplitFormat::SourceWithoutSize, {
            let mut learned = Learned::default();
            learned.split_hint = SplitFormat::SourceWithoutSize;
            learned
        }),
    ] {
        let mut s: Script<Rules> = Script::new(config(1000, 0), learned);
        s.sends(0);
        let mut f = split(bare, 7, format, 600);
        f.reverse();
        for d in &f {
            s.gets(6, d);
        }
        assert_eq!(Vec::from(s.answer()), rule_set(100, "bare"), "{format:?}");
    }
}

/// A compressed reply that does not check out may be a damaged copy: it is the error
/// at the deadline, unless a good copy comes first.
#[test]
fn a_compressed_reply_that_does_not_check_out_is_the_error_at_the_deadline() {
    let mut f = split_packet(&rules_reply(100, "z"), 7, SplitFormat::Source, 300, true).unwrap();
    f[0][16] ^= 0xFF;
    let mut s = rules_script(config(1000, 0));
    s.sends(0);
    for d in &f {
        s.gets(6, d);
    }
    s.pending();
    s.wakes(1000);
    assert!(matches!(s.error(), Error::Checksum { .. }));

    // A good copy after it wins.
    let mut s = rules_script(config(1000, 0));
    s.sends(0);
    for d in &f {
        s.gets(6, d);
    }
    s.gets(11, &rules_reply(3, "good"));
    assert_eq!(s.answer().len(), 3);
}

#[test]
fn a_single_datagram_over_the_byte_limit() {
    let mut limits = Limits::default();
    limits.max_reply_bytes = 1000;
    let mut capped = config(1000, 0);
    capped.limits = limits;
    let mut s = rules_script(capped);
    s.sends(0);
    // Of another type: a stray.
    let mut big_other = players_reply();
    big_other.resize(2000, 0);
    s.gets(1, &big_other);
    s.pending();
    s.gets(2, &rules_reply(200, "big"));
    s.pending();
    s.wakes(1000);
    assert!(matches!(s.error(), Error::ReplyTooLarge { max: 1000 }));
}

/// A request refused with a challenge is never the one answered: a slow challenge
/// round trip does not make the data reply's ping count from the first request.
#[test]
fn a_slow_challenge_does_not_inflate_the_ping() {
    let mut s = rules_script(config(2000, 0));
    s.sends(0);
    s.gets(300, &challenge(C1));
    s.sends(300);
    s.gets(301, &rules_reply(1, "r"));
    s.answer();
    assert_eq!(s.ex.learned().round_trip, Some(ms(1)));

    // A rotated challenge refuses the challenged request too.
    let mut s = rules_script(config(2000, 0));
    s.sends(0);
    s.gets(100, &challenge(C1));
    s.sends(100);
    s.gets(200, &challenge(C2));
    s.sends(200);
    s.gets(300, &rules_reply(1, "r"));
    s.answer();
    assert_eq!(s.ex.learned().round_trip, Some(ms(100)));
}

#[test]
fn a_reply_under_way_is_told_rather_than_a_refused_fragment() {
    let mut s = rules_script(config(1000, 0));
    s.sends(0);
    let mut stale = split(&rules_reply(100, "stale"), 3, SplitFormat::Source, 600)[0].clone();
    stale[8] = 200;
    s.gets(5, &stale);
    let f = split(&rules_reply(100, "real"), 7, SplitFormat::Source, 600);
    for d in &f[..f.len() - 1] {
        s.gets(6, d);
    }
    s.wakes(1000);
    let total = f.len() as u8;
    assert!(matches!(s.error(), Error::Timeout { fragments: Some((got, t)), .. } if got + 1 == total && t == total));
}

/// Pointed at the wrong port: the timeout says what came instead.
#[test]
fn the_timeout_tells_what_was_ignored() {
    let mut s = info_script(config(1000, 0));
    s.sends(0);
    s.gets(5, b"HTTP/1.1 400 Bad Request\r\n\r\n");
    s.gets(6, &players_reply());
    s.gets(7, b"HTTP/1.1 400 Bad Request\r\n\r\n");
    s.wakes(1000);
    let e = s.error();
    let Error::Timeout { ignored, .. } = e else { panic!("{e:?}") };
    assert_eq!((ignored.count, ignored.telling), (3, Some(Stray::NotA2s { bytes: *b"HTTP", len: 4 })));
    assert!(e.to_string().contains("is this the query port?"), "{e}");

    let mut s = rules_script(config(1000, 0));
    s.sends(0);
    s.gets(5, &[0xFF, 0xFF]);
    s.gets(6, &info_reply("not rules"));
    s.wakes(1000);
    let e = s.error();
    let Error::Timeout { ignored, .. } = e else { panic!("{e:?}") };
    assert_eq!(
        (ignored.count, ignored.telling),
        (2, Some(Stray::OtherReply { kind: 0x49 })),
        "a cut-off header is A2S"
    );

    let mut s = rules_script(config(1000, 0));
    s.sends(0);
    s.gets(6, &info_reply("not rules"));
    s.wakes(1000);
    let e = s.error();
    assert!(e.is_timeout());
    let Error::Timeout { ignored, .. } = e else { panic!("{e:?}") };
    assert_eq!((ignored.count, ignored.telling), (1, Some(Stray::OtherReply { kind: 0x49 })));

    // Only copies and early datagrams: the first is told.
    let mut s = info_script(config(1000, 0));
    s.gets(0, b"early");
    s.sends(1);
    s.gets(2, b"HTTP");
    s.wakes(1000);
    let Error::Timeout { ignored, .. } = s.error() else { panic!() };
    assert_eq!((ignored.count, ignored.telling), (2, Some(Stray::NotA2s { bytes: *b"HTTP", len: 4 })));
    let mut s = info_script(config(1000, 0));
    s.sends(0);
    s.gets(1, &challenge(C1));
    s.sends(1);
    s.gets(2, &challenge(C1));
    s.wakes(1000);
    let Error::Timeout { ignored, .. } = s.error() else { panic!() };
    assert_eq!((ignored.count, ignored.telling), (1, Some(Stray::Repeat)));
}

/// A driver that waits before sending the request a challenge made due loses no retry
/// to it.
#[test]
fn a_due_request_is_not_taken_for_a_retry() {
    let mut s = rules_script(config(1000, 1));
    s.sends(0);
    s.gets(400, &challenge(C1));
    // The resend time set by the first request (500 ms) passes before the driver sends.
    s.wakes(500);
    assert_eq!(s.sends(500), Query::Rules(C1));
    s.sends_nothing(500);
    // The one retry is still there: 500 ms left, shared by two attempts.
    assert_eq!(s.wakes_at(), Some(750));
    s.wakes(750);
    assert_eq!(s.sends(750), Query::Rules(C1));
}
