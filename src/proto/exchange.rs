//! One query to one server as a state machine: datagrams and `now` in, requests to
//! send and the time to wake up out. No socket, no clock.

use std::time::{Duration, Instant};

use super::fragment::{Pushed, Reassembler, SplitFormat};
use super::info::{Info, S2A_INFO, S2A_INFO_GOLDSRC};
use super::packet::{Challenge, Datagram, Message, Query, Request};
use super::players::{Players, S2A_PLAYER};
use super::rules::{Rules, S2A_RULES};
use crate::encoding::{Encoding, TextDecoder};
use crate::error::{Error, Ignored, Result, Stray};
use crate::limits::Limits;

/// After a GoldSrc (`0x6D`) info reply from a server not met before, how long to wait
/// for the Source (`0x49`) reply that old HLDS and dproto servers send too: the spec's
/// 300 ms (HLDS sends its `0x49` with the next server frame, not with the `0x6D`).
pub(crate) const GOLDSRC_GRACE: Duration = Duration::from_millis(300);
/// Taken off half a server's shortest round trip to make the soonest a reply can
/// answer a request: what a reply sooner than that is late for an earlier query.
const STALE_SLACK: Duration = Duration::from_millis(5);
/// The shortest drain: replies owed by a query that ended are waited for at least this
/// long (see [`Draining`]).
pub(crate) const DRAIN_FLOOR: Duration = Duration::from_millis(50);
/// The drain of a server whose round trip is unknown (it never answered).
pub(crate) const DRAIN_UNKNOWN_ROUND_TRIP: Duration = Duration::from_millis(250);
/// How one query behaves: the options of a [`Client`](crate::Client), for one exchange.
///
/// New options may come (`#[non_exhaustive]`): start from `default()` and set the
/// fields you change.
///
/// ```
/// let mut config = a2s_query::proto::ExchangeConfig::default();
/// config.timeout = std::time::Duration::from_secs(1);
/// config.retries = 2;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExchangeConfig {
    /// Bounds the whole exchange, from its creation: every round trip, fragment and
    /// retry. Default 3 s.
    pub timeout: Duration,
    /// Extra sends of a request that got no answer; the time left is shared out
    /// evenly between the attempts left. Default 0.
    pub retries: u8,
    /// Caps on what the server may make the exchange hold or do.
    pub limits: Limits,
    /// After a GoldSrc (`0x6D`) info reply, how long to wait for the Source (`0x49`)
    /// one that old HLDS and dproto servers send too. `None` (the default): learned per
    /// server ([`Learned::info_replies`]): a server not met before is waited for
    /// 300 ms (or two round trips, if longer); one that answered only `0x6D`
    /// after that wait is not waited for again; one known to send both is waited for
    /// until its `0x49` (never past the deadline). `Some(Duration::ZERO)` takes the
    /// first reply.
    pub goldsrc_grace: Option<Duration>,
    /// The split header layout; [`SplitFormat::Auto`] recognises it per reply.
    pub split_format: SplitFormat,
    /// Send the challenge the server gave last time (from [`Learned`]) with the first
    /// request, saving a round trip. Default on.
    pub reuse_challenge: bool,
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        ExchangeConfig {
            timeout: Duration::from_secs(3),
            retries: 0,
            limits: Limits::default(),
            goldsrc_grace: None,
            split_format: SplitFormat::Auto,
            reuse_challenge: true,
        }
    }
}

/// What one exchange learned about its server that the next one can use: keep it per
/// server address and hand it to the next [`Exchange::new`] for that address
/// (`Learned::default()` for a server not met before).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Learned {
    /// The last challenge the server handed out; forgotten when a request carrying it
    /// met only silence (some servers drop stale challenges without a word).
    pub challenge: Option<Challenge>,
    /// The split layout its info reply implies ([`SplitFormat::for_server`]), used when
    /// a split reply's layout cannot be recognised from its bytes.
    pub split_hint: SplitFormat,
    /// The last round trip measured unambiguously: from a request sent once (Karn's
    /// rule: a reply to a request sent twice may answer either copy).
    pub round_trip: Option<Duration>,
    /// The shortest round trip measured: while an earlier query is owed a reply (see
    /// `owed`), a reply that comes sooner than half of it (less 5 ms) after a query's
    /// first request cannot answer it (it is a late reply to that query). Forgotten
    /// when a query timed out after such replies, so a server that got closer is not
    /// shut out.
    pub min_round_trip: Option<Duration>,
    /// Which info replies the server sends.
    pub info_replies: InfoReplies,
    /// Whether the query before left replies owed (it ended, or was dropped, with a
    /// request unanswered). Only then can a reply come that answers an earlier query,
    /// and only then is a reply sooner than half the shortest round trip refused as
    /// one: a server answering every query is never refused for getting faster (a
    /// game server answers within a frame, so its round trips vary by a frame).
    pub owed: bool,
}

/// Which info replies a server sends, as learned from its answers (spec §5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InfoReplies {
    /// Not known yet: after a GoldSrc (`0x6D`) reply, wait 300 ms for a
    /// Source one.
    #[default]
    Unknown,
    /// Only the GoldSrc reply (HLTV, old servers): it is the answer at once.
    GoldSrcOnly,
    /// Both, in either order (old HLDS, dproto): the Source reply is waited for (so
    /// the GoldSrc one of an earlier query, trailing, never answers a later one).
    Both,
}

/// Replies a server may still send for a query that ended, none of which can answer
/// anything now: [`Exchange::draining`]. An [`Endpoint`](super::Endpoint) keeps the
/// server draining (those replies are strays, and the next query's first request
/// waits) until `replies` datagrams came from it or `window` passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Draining {
    /// How many replies may still come: requests unanswered (retried copies, a query
    /// that timed out or was cancelled).
    pub replies: u32,
    /// How long to wait for them, from the end of the query: two of the server's
    /// round trips (at least 50 ms; 250 ms when none is
    /// known).
    pub window: Duration,
}

/// A reply an [`Exchange`] can wait for: [`Info`], [`Players`] or [`Rules`], with the
/// decoder that turns its strings into text.
///
/// Sealed: its hooks are the exchange's own and may change.
pub trait Answer<D: TextDecoder>: super::sealed::Sealed + Sized {
    /// The first request, without a challenge.
    const QUERY: Query;
    /// Whether a reply of type `kind` answers the query.
    fn accepts(kind: u8) -> bool;
    /// Parses an accepted reply.
    ///
    /// # Errors
    /// The parser's errors.
    fn parse(message: Message<'_>, decoder: D) -> Result<Self>;
    /// False for a reply that a better one may follow (a GoldSrc info reply).
    fn is_final(&self) -> bool {
        true
    }
    /// Records the measured round trip in the reply, where it has a field for it.
    fn set_ping(&mut self, _ping: Duration) {}
    /// The split layout this reply says its server uses.
    fn split_hint(&self) -> SplitFormat {
        SplitFormat::Auto
    }
    /// Whether a parse error ends the query at once: one that every copy of the reply
    /// would give (text that is not UTF-8 under the strict encoding), rather than one a
    /// damaged datagram gives, after which a good copy may still come.
    fn is_final_error(error: &Error) -> bool {
        matches!(error, Error::InvalidText { .. })
    }
}

impl<S> super::sealed::Sealed for Info<S> {}
impl<S> super::sealed::Sealed for Players<S> {}
impl<S> super::sealed::Sealed for Rules<S> {}
impl<S> super::sealed::Sealed for super::ArmaRules<S> {}
impl<T, D> super::sealed::Sealed for Exchange<T, D> {}

impl<D: TextDecoder> Answer<D> for Info<D::Text> {
    const QUERY: Query = Query::Info(None);
    fn accepts(kind: u8) -> bool {
        kind == S2A_INFO || kind == S2A_INFO_GOLDSRC
    }
    fn parse(message: Message<'_>, decoder: D) -> Result<Self> {
        Info::parse(message, decoder)
    }
    fn is_final(&self) -> bool {
        matches!(self, Info::Source(_))
    }
    fn set_ping(&mut self, ping: Duration) {
        Info::set_ping(self, ping);
    }
    fn split_hint(&self) -> SplitFormat {
        match self {
            Info::Source(s) => SplitFormat::for_server(u32::from(s.app_id), s.protocol),
            Info::GoldSrc(_) => SplitFormat::GoldSrc,
        }
    }
}

impl<D: TextDecoder> Answer<D> for Players<D::Text> {
    const QUERY: Query = Query::Players(Challenge::REQUEST);
    fn accepts(kind: u8) -> bool {
        kind == S2A_PLAYER
    }
    fn parse(message: Message<'_>, decoder: D) -> Result<Self> {
        Players::parse(message.body, decoder)
    }
}

impl<D: TextDecoder> Answer<D> for Rules<D::Text> {
    const QUERY: Query = Query::Rules(Challenge::REQUEST);
    fn accepts(kind: u8) -> bool {
        kind == S2A_RULES
    }
    fn parse(message: Message<'_>, decoder: D) -> Result<Self> {
        Rules::parse(message.body, decoder)
    }
}

/// A reply held back while a preferred one may still come.
#[derive(Debug)]
struct Held<T> {
    value: T,
    until: Instant,
    /// Whether the wait is the whole first-contact grace (its end teaches that the
    /// server sends only this reply).
    first_contact: bool,
    /// Its round trip, learned only if it is given out (a held reply may be a late one
    /// of an earlier query, which a Source reply then replaces).
    sample: Option<Duration>,
}

/// One query to one server, I/O-free: the caller moves the bytes and reads the clock
/// (quinn-proto's way).
///
/// An [`Exchange`] owns everything between "ask" and "answer": the challenge rounds
/// (spec §2.7), retries and their schedule, split reassembly, stray datagrams, the
/// deadline, and the preference for a Source info reply over a GoldSrc one (spec §5).
/// A driver (the blocking [`Client`](crate::Client), an event loop of your own) only
/// moves bytes and reads the clock:
///
/// ```
/// use std::time::{Duration, Instant};
/// use a2s_query::proto::{Exchange, ExchangeConfig, Info, Learned, SourceInfo};
/// use a2s_query::Encoding;
/// # fn main() -> a2s_query::Result<()> {
/// let start = Instant::now();
/// let mut config = ExchangeConfig::default();
/// config.timeout = Duration::from_secs(2);
/// let mut exchange: Exchange<Info, Encoding> = Exchange::new(config, Encoding::Utf8, Learned::default(), start);
///
/// let request = exchange.poll_transmit(start).expect("the first request");
/// // ... send `request`; a reply comes back 30 ms later:
/// let mut reply = Vec::new();
/// let mut sent = SourceInfo::default();
/// sent.server_name = "answered".into();
/// sent.encode(&mut reply)?;
/// exchange.handle_datagram(&reply, start + Duration::from_millis(30));
///
/// let info = exchange.poll_outcome().expect("done")?;
/// assert_eq!(info.server_name(), "answered");
/// assert_eq!(info.ping(), Duration::from_millis(30));
/// # Ok(()) }
/// ```
///
/// The driver's loop: send what [`Exchange::poll_transmit`] gives, wait for a datagram
/// from the server until [`Exchange::poll_timeout`], hand it to
/// [`Exchange::handle_datagram`] (or call [`Exchange::handle_timeout`] when the wait
/// ran out), and stop when [`Exchange::poll_outcome`] has the answer. Hand in what was
/// queued before a request went out before asking for that request (it answers an
/// earlier one and is skipped as such); while an earlier query is owed a reply, one
/// sooner after the first request than half the server's shortest round trip is
/// skipped too. When the exchange ends,
/// [`Exchange::draining`] says what the server may still send for it.
///
/// `T` is the answer ([`Info`], [`Players`] or [`Rules`] of `D::Text`), `D` the
/// decoder of its strings ([`Encoding`] or [`Raw`](crate::Raw)).
#[derive(Debug)]
pub struct Exchange<T, D = Encoding> {
    config: ExchangeConfig,
    decoder: D,
    reassembler: Reassembler,
    deadline: Instant,
    /// The request as it goes out now (with the latest challenge).
    request: Query,
    /// The challenges sent in this exchange: one seen again is not a new round.
    challenges_sent: [Option<Challenge>; 2],
    /// Whether the request carries the remembered challenge, not yet answered.
    unconfirmed_challenge: bool,
    /// Whether a request is due.
    transmit: bool,
    /// The first send of the exchange: replies sooner than half the shortest round
    /// trip after it answer an earlier query.
    first_sent: Option<Instant>,
    /// The first send of the requests a reply can still answer (those since the
    /// latest challenge), and how many went out since.
    answerable_since: Option<Instant>,
    answerable_sends: u32,
    last_sent: Option<Instant>,
    /// Every request sent, and every reply to one (challenges, answers, broken ones;
    /// the two info replies of a server that sends both count as one).
    sends: u32,
    replies: u32,
    /// GoldSrc info replies, counted apart: see `replies`.
    goldsrc_replies: u32,
    /// Whether the answer is a GoldSrc reply that a Source one may still follow.
    source_may_follow: bool,
    /// The challenge round trip of this exchange, when unambiguous.
    challenge_round_trip: Option<Duration>,
    /// Whether any datagram came after the first request.
    heard: bool,
    /// Replies skipped as too soon after the first request.
    stale: u32,
    /// Whether a GoldSrc info reply came after the first request.
    seen_goldsrc: bool,
    retries_left: u8,
    resend_at: Instant,
    rounds: u8,
    /// What was skipped, for the timeout's message.
    ignored: Ignored,
    /// A fragment-level refusal for a limit, told at the deadline if nothing came.
    refused: Option<Error>,
    /// A reply of the asked type that did not parse or check out: the error at the
    /// deadline unless a good reply comes.
    broken: Option<Error>,
    held: Option<Held<T>>,
    outcome: Option<Result<T>>,
    done: bool,
    learned: Learned,
}

impl<T: Answer<D>, D: TextDecoder> Exchange<T, D> {
    /// An exchange starting at `now`, its deadline `now + config.timeout`. `learned` is
    /// what the last exchange with this server learned ([`Learned::default`] for a
    /// server never asked).
    pub fn new(config: ExchangeConfig, decoder: D, learned: Learned, now: Instant) -> Self {
        Self::reusing(Reassembler::new(config.limits), config, decoder, learned, now)
    }

    /// As [`Exchange::new`], reusing the buffers of a reassembler that an earlier
    /// exchange gave back ([`Exchange::into_reassembler`]), so polling does not allocate.
    pub(crate) fn reusing(
        mut reassembler: Reassembler,
        config: ExchangeConfig,
        decoder: D,
        learned: Learned,
        now: Instant,
    ) -> Self {
        reassembler.set_limits(config.limits);
        reassembler.set_format(config.split_format);
        reassembler.set_hint(learned.split_hint);
        let deadline = later(now, config.timeout);
        let first = learned.challenge.filter(|_| config.reuse_challenge);
        let request = match first {
            Some(c) => T::QUERY.with_challenge(c),
            None => T::QUERY,
        };
        Exchange {
            config,
            decoder,
            reassembler,
            deadline,
            request,
            challenges_sent: [first, None],
            unconfirmed_challenge: first.is_some(),
            transmit: true,
            first_sent: None,
            answerable_since: None,
            answerable_sends: 0,
            last_sent: None,
            sends: 0,
            replies: 0,
            goldsrc_replies: 0,
            source_may_follow: false,
            challenge_round_trip: None,
            heard: false,
            stale: 0,
            seen_goldsrc: false,
            retries_left: config.retries,
            resend_at: deadline,
            rounds: 0,
            ignored: Ignored::default(),
            refused: None,
            broken: None,
            held: None,
            outcome: None,
            done: false,
            learned,
        }
    }

    /// Gives back the reassembler, its buffers kept, for the next exchange.
    pub(crate) fn into_reassembler(self) -> Reassembler {
        self.reassembler
    }

    /// Takes the reassembler out of an exchange that is over (an empty one is left).
    pub(crate) fn take_reassembler(&mut self) -> Reassembler {
        std::mem::replace(&mut self.reassembler, Reassembler::new(self.config.limits))
    }

    /// The request to send now, if one is due: call it after creating the exchange and
    /// after every `handle_*` call, and send what it gives at once (the send time is
    /// `now`, from which the ping is measured).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Request> {
        if !self.transmit || self.done {
            return None;
        }
        if now >= self.deadline {
            // Too late to ask: the exchange ends instead.
            self.handle_timeout(now);
            return None;
        }
        self.transmit = false;
        self.first_sent.get_or_insert(now);
        self.answerable_since.get_or_insert(now);
        self.answerable_sends = self.answerable_sends.saturating_add(1);
        self.sends = self.sends.saturating_add(1);
        self.last_sent = Some(now);
        self.resend_at = resend_time(now, self.deadline, self.retries_left);
        Some(self.request.encode())
    }

    /// Whether a request is due: [`Exchange::poll_transmit`] would give one now. A
    /// driver that paces its sends checks this first and polls when it may send.
    pub(crate) fn has_transmit(&self) -> bool {
        self.transmit && !self.done
    }

    /// When to call [`Exchange::handle_timeout`] if no datagram comes first; `None`
    /// once the exchange is done.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        let mut wake = self.deadline;
        if let Some(h) = &self.held {
            wake = wake.min(h.until);
        } else if self.retries_left > 0 && !self.transmit {
            // (While a request is due, its send re-arms the retry timer.)
            wake = wake.min(self.resend_at);
        }
        Some(wake)
    }

    /// Moves the exchange's timers to `now`: a held reply is given out when its wait
    /// ends, a retry is scheduled, or the exchange ends at its deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.done {
            return;
        }
        if let Some(h) = self.held.take_if(|h| now >= h.until) {
            if h.first_contact {
                // A whole grace and no Source reply: this server sends only GoldSrc.
                self.learned.info_replies = InfoReplies::GoldSrcOnly;
            } else {
                // Cut short (the deadline, a grace of the caller's): a Source reply may
                // still come, and is owed. One known to send both that did not send
                // it in the whole time is known no longer.
                self.source_may_follow = true;
                if self.learned.info_replies == InfoReplies::Both {
                    self.learned.info_replies = InfoReplies::Unknown;
                }
            }
            if let Some(rtt) = h.sample {
                self.learn(rtt);
            }
            return self.finish(Ok(h.value));
        }
        if now >= self.deadline {
            if self.unconfirmed_challenge && self.sends > 0 {
                // The remembered challenge met only silence: ask for a fresh one next.
                self.learned.challenge = None;
            }
            if self.stale > 0 {
                // Replies came that looked too early: the server may have got closer.
                self.learned.min_round_trip = None;
            }
            let timeout = self.config.timeout;
            let fragments = self.reassembler.progress();
            // A broken reply names what came; a reply under way says more than a
            // fragment refused on the way.
            let refused = self.refused.take().filter(|_| fragments.is_none());
            let error =
                self.broken.take().or(refused).unwrap_or(Error::Timeout { timeout, fragments, ignored: self.ignored });
            return self.finish(Err(error));
        }
        // (A request already due is not a retry: it goes out at the next poll_transmit.)
        if self.held.is_none() && !self.transmit && self.retries_left > 0 && now >= self.resend_at {
            self.retries_left -= 1;
            self.transmit = true;
            if self.unconfirmed_challenge && !self.heard {
                // Silence to the remembered challenge: the retry asks for a fresh one
                // (some servers drop a stale challenge without a word).
                self.unconfirmed_challenge = false;
                self.learned.challenge = None;
                self.request = T::QUERY;
            }
        }
    }

    /// Takes one datagram that came from the server at `now`.
    ///
    /// Anything that does not answer the query (junk, a reply of another type, a
    /// fragment that cannot be filed, a copy of a challenge already answered, a reply
    /// too soon after the first request to answer it) is a stray: counted against
    /// [`Limits::max_stray_datagrams`] and otherwise ignored. A reply of the asked
    /// type that does not parse or check out is kept as the error while the exchange
    /// listens on: a good reply still wins, and the deadline gives that error instead
    /// of a timeout.
    pub fn handle_datagram(&mut self, datagram: &[u8], now: Instant) {
        self.handle_timeout(now);
        if self.done {
            return;
        }
        if self.first_sent.is_none() {
            // Nothing that came before the first request can answer it.
            return self.stray(Stray::Early);
        }
        self.heard = true;
        let classified = Datagram::classify(datagram);
        let kind = match classified {
            Ok(Datagram::Single(m)) => Stray::OtherReply { kind: m.kind },
            Ok(Datagram::Split(_) | Datagram::Challenge(_)) | Err(Error::Truncated { .. }) => Stray::Unusable,
            Err(_) => {
                let mut bytes = [0; 4];
                let len = datagram.len().min(4);
                bytes.get_mut(..len).unwrap_or_default().copy_from_slice(datagram.get(..len).unwrap_or_default());
                Stray::NotA2s { bytes, len: len as u8 }
            }
        };
        match classified {
            Ok(Datagram::Challenge(c)) => self.challenge(c, now),
            Ok(Datagram::Single(m)) if T::accepts(m.kind) => {
                if self.too_early(now) {
                    return self.stray_stale();
                }
                self.count_reply(m.kind);
                let max = self.config.limits.max_reply_bytes;
                if datagram.len() > max {
                    self.refused.get_or_insert(Error::ReplyTooLarge { max });
                } else {
                    let parsed = T::parse(m, self.decoder);
                    self.parsed(parsed, now);
                }
            }
            Ok(Datagram::Split(fragment)) => self.fragment(fragment, now),
            Ok(Datagram::Single(_)) | Err(_) => self.stray(kind),
        }
    }

    /// Ends the exchange with `error`, if not over already: for a driver whose send
    /// failed (no route to the server, say), or whose socket was told the port is
    /// closed. Its requests are then owed nothing ([`Exchange::draining`]).
    pub(crate) fn fail(&mut self, error: Error) {
        if !self.done {
            // (The failed request owes nothing; earlier copies still may.)
            self.sends = self.sends.saturating_sub(1);
            self.finish(Err(error));
        }
    }

    /// The answer or the error, once the exchange is done (taken: the next call gives
    /// `None`).
    pub fn poll_outcome(&mut self) -> Option<Result<T>> {
        self.outcome.take()
    }

    /// Whether a request went out.
    pub(crate) fn has_sent(&self) -> bool {
        self.first_sent.is_some()
    }

    /// Whether the exchange is over (its outcome may have been taken already).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// What this exchange learned about the server, to hand to the next one.
    pub fn learned(&self) -> Learned {
        Learned { owed: self.draining().is_some(), ..self.learned }
    }

    /// What the server may still send for this exchange's requests, once it is over
    /// (or dropped now): `None` when every request was answered. No reply counted here
    /// can answer a later query.
    ///
    /// The two info replies of a server that sends both count as one reply. A Source
    /// info reply that may still follow a GoldSrc answer (its grace cut short) is owed;
    /// a GoldSrc reply that may still follow a Source answer is not: a later info query
    /// holds a GoldSrc reply until its Source one, and to a query of another kind it is a
    /// stray.
    pub fn draining(&self) -> Option<Draining> {
        let answered = self.replies.saturating_add(self.goldsrc_replies.saturating_sub(self.answers_of_source()));
        let replies = self.sends.saturating_sub(answered).saturating_add(u32::from(self.source_may_follow));
        if replies == 0 {
            return None;
        }
        let window = match self.learned.round_trip {
            Some(rtt) => rtt.saturating_mul(2).max(DRAIN_FLOOR),
            None => DRAIN_UNKNOWN_ROUND_TRIP,
        };
        Some(Draining { replies, window })
    }

    /// The deadline: creation time plus the timeout.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether any datagram came from the server after the first request (an answer,
    /// a challenge or a stray): false means it was silent.
    pub(crate) fn heard(&self) -> bool {
        self.heard
    }

    /// Stray datagrams seen so far.
    pub fn strays(&self) -> u32 {
        self.ignored.count
    }

    fn finish(&mut self, outcome: Result<T>) {
        self.outcome = Some(outcome);
        self.done = true;
    }

    /// Whether a reply at `now` is too soon after the first request to answer it:
    /// something is owed by an earlier query, and the reply comes sooner than half the
    /// shortest round trip this server ever had, less [`STALE_SLACK`].
    fn too_early(&self, now: Instant) -> bool {
        if !self.learned.owed {
            return false;
        }
        match (self.first_sent, self.learned.min_round_trip) {
            (Some(first), Some(min)) => now.saturating_duration_since(first) < (min / 2).saturating_sub(STALE_SLACK),
            _ => false,
        }
    }

    /// Counts a reply of the asked type (GoldSrc info replies apart).
    fn count_reply(&mut self, kind: u8) {
        if kind == S2A_INFO_GOLDSRC {
            self.goldsrc_replies = self.goldsrc_replies.saturating_add(1);
        } else {
            self.replies = self.replies.saturating_add(1);
        }
    }

    /// How many of `replies` a GoldSrc info reply may stand beside as the same
    /// request's second reply: all of them for an info query (challenges and broken
    /// replies included, so at most that many), none for another.
    fn answers_of_source(&self) -> u32 {
        if T::accepts(S2A_INFO) {
            self.replies
        } else {
            0
        }
    }

    fn stray_stale(&mut self) {
        self.stale = self.stale.saturating_add(1);
        self.stray(Stray::Stale);
    }

    fn stray(&mut self, what: Stray) {
        let ignored = &mut self.ignored;
        ignored.count = ignored.count.saturating_add(1);
        if !ignored.telling.is_some_and(|f| f.is_telling()) && (ignored.telling.is_none() || what.is_telling()) {
            ignored.telling = Some(what);
        }
        let count = ignored.count;
        if count > self.config.limits.max_stray_datagrams {
            self.finish(Err(Error::TooManyStrayDatagrams { count }));
        }
    }

    fn fragment(&mut self, fragment: &[u8], now: Instant) {
        let early = self.too_early(now);
        let pushed = match self.reassembler.push_fragment(fragment) {
            Ok(Pushed::Complete(whole)) => whole,
            Ok(Pushed::Stored { received, .. }) => {
                // A reply is arriving: no resend while it does. A lone fragment of a
                // new reply (a flood of stale ids) is not progress.
                if received > 1 {
                    self.resend_at = resend_time(now, self.deadline, self.retries_left);
                }
                return;
            }
            Ok(Pushed::Duplicate) => return self.stray(Stray::Unusable),
            // A verdict on a completed reply: kept as the error while a good reply may
            // still come.
            Err(e @ (Error::Decompress(_) | Error::SizeMismatch { .. } | Error::Checksum { .. })) => {
                self.replies = self.replies.saturating_add(1);
                self.broken.get_or_insert(e);
                return;
            }
            Err(e) => {
                if matches!(
                    e,
                    Error::TooManyFragments { .. } | Error::ReplyTooLarge { .. } | Error::DecompressedTooLarge { .. }
                ) {
                    self.refused.get_or_insert(e);
                }
                return self.stray(Stray::Unusable);
            }
        };
        // The reassembled reply borrows the reassembler: read what it is first.
        let Ok(message) = Message::from_reassembled(pushed) else { return self.stray(Stray::Unusable) };
        let other = Stray::OtherReply { kind: message.kind };
        match message.challenge() {
            // Some servers send the challenge itself as a split reply.
            Ok(Some(c)) => self.challenge(c, now),
            Ok(None) if T::accepts(message.kind) => {
                if early {
                    return self.stray_stale();
                }
                let kind = message.kind;
                let parsed = T::parse(message, self.decoder);
                self.count_reply(kind);
                self.parsed(parsed, now);
            }
            Ok(None) => self.stray(other),
            Err(_) => self.stray(Stray::Unusable),
        }
    }

    fn challenge(&mut self, c: Challenge, now: Instant) {
        if self.too_early(now) {
            return self.stray_stale();
        }
        self.replies = self.replies.saturating_add(1);
        // Only a challenge unlike those already sent is a new round (spec §2.7): a
        // copy (a duplicated datagram, a late answer to an earlier request) is not.
        if self.challenges_sent.contains(&Some(c)) {
            return self.stray(Stray::Repeat);
        }
        if self.rounds >= self.config.limits.max_challenge_rounds {
            return self.finish(Err(Error::TooManyChallenges { rounds: self.rounds }));
        }
        self.rounds += 1;
        let [_, last] = self.challenges_sent;
        self.challenges_sent = [last, Some(c)];
        self.unconfirmed_challenge = false;
        self.learned.challenge = Some(c);
        if let Some(rtt) = self.sample(now) {
            self.learn(rtt);
            self.challenge_round_trip = Some(rtt);
        }
        self.request = self.request.with_challenge(c);
        // The request this challenge refused (every copy of it) can no longer be
        // answered: the ping counts from the requests that carry the new one.
        self.answerable_since = None;
        self.answerable_sends = 0;
        self.transmit = true;
    }

    fn parsed(&mut self, parsed: Result<T>, now: Instant) {
        let mut value = match parsed {
            Ok(v) => v,
            // A broken preferred reply does not throw away a good one held.
            Err(e) => {
                if let Some(h) = self.held.take() {
                    return self.finish(Ok(h.value));
                }
                if T::is_final_error(&e) {
                    return self.finish(Err(e));
                }
                self.broken.get_or_insert(e);
                return;
            }
        };
        self.unconfirmed_challenge = false;
        let (ping, sample) = self.ping(now);
        value.set_ping(ping);
        let hint = value.split_hint();
        if hint != SplitFormat::Auto {
            self.learned.split_hint = hint;
        }
        if value.is_final() {
            if self.seen_goldsrc {
                self.learned.info_replies = InfoReplies::Both;
            } else if self.learned.info_replies == InfoReplies::GoldSrcOnly && T::accepts(S2A_INFO) {
                // A Source reply after all: learn again.
                self.learned.info_replies = InfoReplies::Unknown;
            }
            if let Some(rtt) = sample {
                self.learn(rtt);
            }
            return self.finish(Ok(value));
        }
        // A GoldSrc info reply: a Source one may follow.
        self.seen_goldsrc = true;
        if self.held.is_some() {
            // A second reply of the kind held: keep the first.
            return self.stray(Stray::Repeat);
        }
        let known = self.learned.info_replies;
        let grace = match (self.config.goldsrc_grace, known) {
            (Some(fixed), _) => fixed,
            (None, InfoReplies::GoldSrcOnly) => Duration::ZERO,
            // Known to send both: wait for the Source reply, to the deadline at worst.
            (None, InfoReplies::Both) => self.deadline.saturating_duration_since(now),
            (None, _) => GOLDSRC_GRACE.max(self.learned.round_trip.map_or(Duration::ZERO, |r| r.saturating_mul(2))),
        };
        if grace.is_zero() {
            // Taken at once: a Source reply may follow only if the caller chose so.
            self.source_may_follow = self.config.goldsrc_grace.is_some();
            if let Some(rtt) = sample {
                self.learn(rtt);
            }
            return self.finish(Ok(value));
        }
        let until = later(now, grace);
        let first_contact =
            self.config.goldsrc_grace.is_none() && known == InfoReplies::Unknown && until <= self.deadline;
        self.held = Some(Held { value, until: until.min(self.deadline), first_contact, sample });
    }

    /// The round trip of a reply at `now`, if it is unambiguous (Karn's rule: the
    /// requests it can answer went out once).
    fn sample(&self, now: Instant) -> Option<Duration> {
        if self.answerable_sends != 1 {
            return None;
        }
        Some(now.saturating_duration_since(self.answerable_since?))
    }

    /// Learns a round-trip sample.
    fn learn(&mut self, rtt: Duration) {
        self.learned.round_trip = Some(rtt);
        self.learned.min_round_trip = Some(self.learned.min_round_trip.map_or(rtt, |m| m.min(rtt)));
    }

    /// The ping of a reply at `now`, and its round-trip sample if unambiguous: its round
    /// trip when the request it answers went out once; else (a retry went too, and
    /// either copy may be the one answered) this exchange's challenge round trip, else
    /// the round trip the server had before, else the time since the first request it
    /// can answer (an upper bound).
    fn ping(&self, now: Instant) -> (Duration, Option<Duration>) {
        if let Some(rtt) = self.sample(now) {
            return (rtt, Some(rtt));
        }
        let since = self.answerable_since.map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        (self.challenge_round_trip.or(self.learned.round_trip).unwrap_or(since), None)
    }
}

/// `t + d`, saturating far in the future instead of overflowing.
pub(crate) fn later(t: Instant, d: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    t.checked_add(d).or_else(|| t.checked_add(CENTURY)).unwrap_or(t)
}

/// When to resend if nothing arrives: the time left shared out over the attempts left.
fn resend_time(from: Instant, deadline: Instant, retries_left: u8) -> Instant {
    if retries_left == 0 {
        return deadline;
    }
    let left = deadline.saturating_duration_since(from);
    from + left / (u32::from(retries_left) + 1)
}
