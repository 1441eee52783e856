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

/// The shortest wait for a Source info reply after a GoldSrc one, when the wait
/// follows the round trip (see [`ExchangeConfig::goldsrc_grace`]).
pub const GOLDSRC_GRACE_FLOOR: Duration = Duration::from_millis(30);
/// Send times kept per request form, to tell which copy a reply answered.
const SENDS_KEPT: usize = 8;

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
    /// one that old HLDS and dproto servers send right after it. `None` (the default):
    /// half the round trip just measured, at least [`GOLDSRC_GRACE_FLOOR`], since both
    /// leave the server together; `Some(Duration::ZERO)` takes the first reply.
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
    /// The last challenge the server handed out.
    pub challenge: Option<Challenge>,
    /// The split layout its info reply implies ([`SplitFormat::for_server`]), used when
    /// a split reply's layout cannot be recognised from its bytes.
    pub split_hint: SplitFormat,
    /// The last round trip measured: tells a late answer to an earlier copy of a
    /// request from an answer to the latest one.
    pub round_trip: Option<Duration>,
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
/// assert_eq!(info.name(), "answered");
/// assert_eq!(info.ping(), Duration::from_millis(30));
/// # Ok(()) }
/// ```
///
/// The driver's loop: send what [`Exchange::poll_transmit`] gives, wait for a datagram
/// from the server until [`Exchange::poll_timeout`], hand it to
/// [`Exchange::handle_datagram`] (or call [`Exchange::handle_timeout`] when the wait
/// ran out), and stop when [`Exchange::poll_outcome`] has the answer. Datagrams that
/// were queued before the first request went out must not be handed in: they answer
/// an earlier request.
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
    /// Whether a request is due.
    transmit: bool,
    /// Whether the first request has gone out.
    sent: bool,
    /// Whether any datagram came after it.
    heard: bool,
    /// Send times of the current request form, latest last (at most [`SENDS_KEPT`]).
    sends: [Option<Instant>; SENDS_KEPT],
    retries_left: u8,
    resend_at: Instant,
    rounds: u8,
    /// What was skipped, for the timeout's message.
    ignored: Ignored,
    /// A fragment-level refusal for a limit, told at the deadline if nothing came.
    refused: Option<Error>,
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
    pub fn reusing(
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
            transmit: true,
            sent: false,
            heard: false,
            sends: [None; SENDS_KEPT],
            retries_left: config.retries,
            resend_at: deadline,
            rounds: 0,
            ignored: Ignored::default(),
            refused: None,
            held: None,
            outcome: None,
            done: false,
            learned,
        }
    }

    /// Gives back the reassembler, its buffers kept, for the next exchange.
    pub fn into_reassembler(self) -> Reassembler {
        self.reassembler
    }

    /// The request to send now, if one is due: call it after creating the exchange and
    /// after every `handle_*` call, and send what it gives at once (the send time is
    /// `now`, from which the ping is measured).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Request> {
        if !self.transmit || self.done {
            return None;
        }
        self.transmit = false;
        self.sent = true;
        self.sends.rotate_left(1);
        if let Some(last) = self.sends.last_mut() {
            *last = Some(now);
        }
        self.resend_at = resend_time(now, self.deadline, self.retries_left);
        Some(self.request.encode())
    }

    /// Whether a request is due: [`Exchange::poll_transmit`] would give one now. A
    /// driver that paces its sends checks this first and polls when it may send.
    pub fn has_transmit(&self) -> bool {
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
            return self.finish(Ok(h.value));
        }
        if now >= self.deadline {
            let timeout = self.config.timeout;
            let fragments = self.reassembler.progress();
            // A reply under way says more than a fragment refused on the way.
            let refused = self.refused.take().filter(|_| fragments.is_none());
            let error = refused.unwrap_or(Error::Timeout { timeout, fragments, ignored: self.ignored });
            return self.finish(Err(error));
        }
        // (A request already due is not a retry: it goes out at the next poll_transmit.)
        if self.held.is_none() && !self.transmit && self.retries_left > 0 && now >= self.resend_at {
            self.retries_left -= 1;
            self.transmit = true;
        }
    }

    /// Takes one datagram that came from the server at `now`.
    ///
    /// Anything that does not answer the query (junk, a reply of another type, a
    /// fragment that cannot be filed, a copy of a challenge already answered) is a
    /// stray: counted against [`Limits::max_stray_datagrams`] and otherwise ignored.
    /// Only a verdict on a completed reply ends the exchange with an error: a split
    /// reply that does not decompress or check out (its type is unknown until it does),
    /// or a reply of the asked type that does not parse.
    pub fn handle_datagram(&mut self, datagram: &[u8], now: Instant) {
        self.handle_timeout(now);
        if self.done {
            return;
        }
        if !self.sent {
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
                let max = self.config.limits.max_reply_bytes;
                if datagram.len() > max {
                    self.finish(Err(Error::ReplyTooLarge { max }));
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
    /// failed (no route to the server, say).
    pub fn fail(&mut self, error: Error) {
        if !self.done {
            self.finish(Err(error));
        }
    }

    /// The answer or the error, once the exchange is done (taken: the next call gives
    /// `None`).
    pub fn poll_outcome(&mut self) -> Option<Result<T>> {
        self.outcome.take()
    }

    /// Whether the exchange is over (its outcome may have been taken already).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// What this exchange learned about the server, to hand to the next one.
    pub fn learned(&self) -> Learned {
        self.learned
    }

    /// The deadline: creation time plus the timeout.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether any datagram came from the server after the first request (an answer,
    /// a challenge or a stray): false means it was silent.
    pub fn heard(&self) -> bool {
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
            // A verdict on a completed reply.
            Err(
                e @ (Error::Decompress(_)
                | Error::SizeMismatch { .. }
                | Error::Checksum { .. }
                | Error::DecompressedTooLarge { .. }),
            ) => return self.finish(Err(e)),
            Err(e) => {
                if matches!(e, Error::TooManyFragments { .. } | Error::ReplyTooLarge { .. }) {
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
                let parsed = T::parse(message, self.decoder);
                self.parsed(parsed, now);
            }
            Ok(None) => self.stray(other),
            Err(_) => self.stray(Stray::Unusable),
        }
    }

    fn challenge(&mut self, c: Challenge, now: Instant) {
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
        self.learned.challenge = Some(c);
        // The challenge round trip: a floor for telling which copy a reply answers.
        self.learned.round_trip = Some(self.ping(now));
        self.request = self.request.with_challenge(c);
        // The request this challenge refused (every copy of it) can no longer be
        // answered: the ping counts from the requests that carry the new one.
        self.sends = [None; SENDS_KEPT];
        self.transmit = true;
    }

    fn parsed(&mut self, parsed: Result<T>, now: Instant) {
        let mut value = match parsed {
            Ok(v) => v,
            // A broken preferred reply does not throw away a good one held.
            Err(e) => {
                let outcome = match self.held.take() {
                    Some(h) => Ok(h.value),
                    None => Err(e),
                };
                return self.finish(outcome);
            }
        };
        let ping = self.ping(now);
        self.learned.round_trip = Some(ping);
        value.set_ping(ping);
        let hint = value.split_hint();
        if hint != SplitFormat::Auto {
            self.learned.split_hint = hint;
        }
        if value.is_final() {
            return self.finish(Ok(value));
        }
        if self.held.is_some() {
            // A second reply of the kind held: keep the first.
            return self.stray(Stray::Repeat);
        }
        let grace = self.config.goldsrc_grace.unwrap_or_else(|| (ping / 2).max(GOLDSRC_GRACE_FLOOR));
        if grace.is_zero() {
            return self.finish(Ok(value));
        }
        self.held = Some(Held { value, until: later(now, grace).min(self.deadline) });
    }

    /// The round trip of the request a reply at `now` answers. Requests carry no id, so
    /// the answered one is the latest sent at least half a known round trip (this
    /// exchange's challenge round trip, else the last one measured with this server)
    /// before `now`: a reply that comes sooner than that after a retry answers an
    /// earlier copy. With no round trip known, the latest request.
    fn ping(&self, now: Instant) -> Duration {
        let floor = self.learned.round_trip.map_or(Duration::ZERO, |rtt| rtt / 2);
        let mut sent = self.sends.iter().rev().flatten();
        let latest = sent.clone().next().copied().unwrap_or(now);
        let answered = sent.find(|&&s| now.saturating_duration_since(s) >= floor).copied().unwrap_or(latest);
        now.saturating_duration_since(answered)
    }
}

/// `t + d`, saturating far in the future instead of overflowing.
fn later(t: Instant, d: Duration) -> Instant {
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
