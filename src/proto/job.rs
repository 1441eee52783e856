//! The work one server gets in an [`Endpoint`](super::Endpoint): one [`Exchange`], the
//! three queries in a row ([`AllQueries`]), or a query of any kind ([`AnyQuery`], what
//! every driver of the crate runs).

use std::time::Instant;

use super::arma::ArmaRules;
use super::exchange::{later, Answer, Draining, Exchange, ExchangeConfig, Learned};
use super::fragment::Reassembler;
use super::info::{Info, S2A_INFO_GOLDSRC};
use super::packet::Request;
use super::players::Players;
use super::rules::Rules;
use crate::encoding::{TextBuf, TextDecoder};
use crate::error::{Error, Result};

/// The work one server gets in an [`Endpoint`](super::Endpoint): an [`Exchange`] for
/// one query, [`AllQueries`] for the three in a row, or [`AnyQuery`]. Its methods are
/// those of an exchange.
///
/// Sealed: the endpoint drives the crate's own jobs; their methods may change.
pub trait Job<D: TextDecoder>: super::sealed::Sealed + Sized {
    /// What each caller of the job gets when it is over (a copy for each caller joined
    /// to it).
    type Output: Clone;
    /// Which work, for a job that can do several kinds (`()` for one that cannot):
    /// given with [`Endpoint::push_kind`](super::Endpoint::push_kind). Two queries to
    /// one server of equal kinds are joined.
    type Kind: Copy + Default + PartialEq + std::fmt::Debug;
    /// The job of `kind` starting at `now`, with what earlier exchanges learned of the
    /// server, reusing `reassembler`'s buffers.
    fn start(
        kind: Self::Kind,
        config: ExchangeConfig,
        decoder: D,
        learned: Learned,
        now: Instant,
        reassembler: Reassembler,
    ) -> Self;
    /// Whether a request is due now.
    fn has_transmit(&self) -> bool;
    /// The due request; its send time is `now`.
    fn poll_transmit(&mut self, now: Instant) -> Option<Request>;
    /// When to call `handle_timeout` if nothing comes first; `None` once over.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Moves the timers to `now`.
    fn handle_timeout(&mut self, now: Instant);
    /// Takes one datagram from the server.
    fn handle_datagram(&mut self, datagram: &[u8], now: Instant);
    /// The output, once over (taken).
    fn poll_output(&mut self) -> Option<Self::Output>;
    /// What the job learned of the server, for its next job.
    fn learned(&self) -> Learned;
    /// What the server may still send for the job's requests, if it ended (or were
    /// dropped) now: see [`Exchange::draining`].
    fn draining(&self) -> Option<Draining>;
    /// Whether the query under way sent a request: a report that a destination cannot
    /// be reached concerns only a query that did.
    fn has_sent(&self) -> bool;
    /// Ends the current query with `error` (its request could not be sent).
    fn fail(&mut self, error: Error, now: Instant);
    /// Gives the reassembler's buffers back, for the next job (the job is over).
    fn recycle(&mut self) -> Reassembler;
    /// The output of a query of `kind` whose time ran out before it started.
    fn timed_out(kind: Self::Kind, config: ExchangeConfig) -> Self::Output;
}

/// The error of a query whose time ran out with nothing heard.
fn silence(config: ExchangeConfig) -> Error {
    Error::Timeout { timeout: config.timeout, fragments: None, ignored: Default::default() }
}

impl<T: Answer<D> + Clone, D: TextDecoder> Job<D> for Exchange<T, D> {
    type Output = Result<T>;
    type Kind = ();
    fn start((): (), config: ExchangeConfig, decoder: D, learned: Learned, now: Instant, r: Reassembler) -> Self {
        Exchange::reusing(r, config, decoder, learned, now)
    }
    fn has_transmit(&self) -> bool {
        Exchange::has_transmit(self)
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Request> {
        Exchange::poll_transmit(self, now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Exchange::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Exchange::handle_timeout(self, now);
    }
    fn handle_datagram(&mut self, datagram: &[u8], now: Instant) {
        Exchange::handle_datagram(self, datagram, now);
    }
    fn poll_output(&mut self) -> Option<Result<T>> {
        Exchange::poll_outcome(self)
    }
    fn learned(&self) -> Learned {
        Exchange::learned(self)
    }
    fn draining(&self) -> Option<Draining> {
        Exchange::draining(self)
    }
    fn has_sent(&self) -> bool {
        Exchange::has_sent(self)
    }
    fn fail(&mut self, error: Error, _now: Instant) {
        Exchange::fail(self, error);
    }
    fn recycle(&mut self) -> Reassembler {
        self.take_reassembler()
    }
    fn timed_out((): (), config: ExchangeConfig) -> Result<T> {
        Err(silence(config))
    }
}

/// Replies owed by a query that ended, waited for before the next request goes to
/// its server: over once `left` of them came or at `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Drain {
    pub(crate) until: Instant,
    left: u32,
}

impl Drain {
    pub(crate) fn new(owed: Draining, now: Instant) -> Self {
        Drain { until: later(now, owed.window), left: owed.replies }
    }

    pub(crate) fn is_over(&self, now: Instant) -> bool {
        self.left == 0 || now >= self.until
    }

    /// One datagram from the server while draining: a stray, and one fewer owed if it
    /// is a whole reply (a single datagram; not a GoldSrc info reply, which may be the
    /// second of a pair, nor a fragment of a split one, which the window waits out).
    pub(crate) fn absorb(&mut self, datagram: &[u8]) {
        if let Some(&[0xFF, 0xFF, 0xFF, 0xFF, kind]) = datagram.first_chunk::<5>() {
            if kind != S2A_INFO_GOLDSRC {
                self.left = self.left.saturating_sub(1);
            }
        }
    }
}

/// Info, players and rules of one server, each its own result: a server that never
/// answers rules still gives its info and players.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Answers<S: TextBuf = String> {
    /// The info query's result.
    pub info: Result<Info<S>>,
    /// The players query's result, with the header's count and the cut-off flag.
    pub players: Result<Players<S>>,
    /// The rules query's result.
    pub rules: Result<Rules<S>>,
}

/// Info, then players, then rules, each query sent when the one before ends (and what
/// it left owed has drained, and the send rate allows) and reusing its challenge (so
/// players and rules take one round trip each). Each query has the whole timeout, from
/// its own first send. A server that sent nothing at all in the info query's time is
/// not asked the other two: they end with the same [`Error::Timeout`], so a dead server
/// costs one timeout, not three.
#[derive(Debug)]
pub struct AllQueries<D: TextDecoder> {
    config: ExchangeConfig,
    decoder: D,
    stage: Stage<D>,
    /// What the query before left owed: the next one waits for it.
    drain: Option<Drain>,
    /// What the last query ended left owed.
    owed: Option<Draining>,
    /// The results so far (boxed: they are large, and the job sits in an enum of
    /// small ones).
    results: Box<Results<D::Text>>,
    learned: Learned,
    /// Kept between the queries for its buffers.
    spare: Option<Reassembler>,
}

/// What [`AllQueries`] has so far.
#[derive(Debug)]
struct Results<S: TextBuf> {
    info: Option<Result<Info<S>>>,
    players: Option<Result<Players<S>>>,
    output: Option<Answers<S>>,
}

#[derive(Debug)]
enum Stage<D: TextDecoder> {
    /// The players query, not sent yet: its timeout starts at its first send.
    NextPlayers,
    /// The rules query, not sent yet.
    NextRules,
    Info(Exchange<Info<D::Text>, D>),
    Players(Exchange<Players<D::Text>, D>),
    Rules(Exchange<Rules<D::Text>, D>),
    Over,
}

/// Runs `$body` with `$e` bound to the current stage's exchange, or gives `$none`
/// between queries.
macro_rules! on_stage {
    ($stage:expr, $e:ident => $body:expr, $none:expr) => {
        match $stage {
            Stage::Info($e) => $body,
            Stage::Players($e) => $body,
            Stage::Rules($e) => $body,
            Stage::NextPlayers | Stage::NextRules | Stage::Over => $none,
        }
    };
}

impl<D: TextDecoder> AllQueries<D> {
    /// Moves to the next query when the current one is over.
    fn advance(&mut self, now: Instant) {
        let stage = std::mem::replace(&mut self.stage, Stage::Over);
        self.stage = match stage {
            Stage::Info(mut e) => match e.poll_outcome() {
                None => Stage::Info(e),
                Some(info) => {
                    let silent = info.as_ref().is_err_and(Error::is_timeout) && !e.heard();
                    self.ended(e, now);
                    if silent {
                        let config = self.config;
                        self.results.output =
                            Some(Answers { info, players: Err(silence(config)), rules: Err(silence(config)) });
                        Stage::Over
                    } else {
                        self.results.info = Some(info);
                        Stage::NextPlayers
                    }
                }
            },
            Stage::Players(mut e) => match e.poll_outcome() {
                None => Stage::Players(e),
                Some(players) => {
                    self.ended(e, now);
                    self.results.players = Some(players);
                    Stage::NextRules
                }
            },
            Stage::Rules(mut e) => match e.poll_outcome() {
                None => Stage::Rules(e),
                Some(rules) => {
                    self.ended(e, now);
                    let results = &mut self.results;
                    results.output = Some(Answers {
                        info: results.info.take().unwrap_or_else(not_run),
                        players: results.players.take().unwrap_or_else(not_run),
                        rules,
                    });
                    Stage::Over
                }
            },
            other => other,
        };
    }

    /// Keeps what an ended query learned and left owed, and its buffers.
    fn ended<T: Answer<D>>(&mut self, e: Exchange<T, D>, now: Instant) {
        self.learned = e.learned();
        self.owed = e.draining();
        self.drain = self.owed.map(|owed| Drain::new(owed, now));
        self.spare = Some(e.into_reassembler());
    }

    /// Whether the next query waits for what the last one left owed.
    fn draining(&self, now: Instant) -> bool {
        self.drain.is_some_and(|d| !d.is_over(now))
    }

    /// Starts the query waiting for its first send, its timeout counting from `now`.
    fn begin(&mut self, now: Instant) {
        if self.draining(now) {
            return;
        }
        self.drain = None;
        let (config, decoder, learned) = (self.config, self.decoder, self.learned);
        let r = self.spare.take().unwrap_or_else(|| Reassembler::new(config.limits));
        match self.stage {
            Stage::NextPlayers => self.stage = Stage::Players(Exchange::reusing(r, config, decoder, learned, now)),
            Stage::NextRules => self.stage = Stage::Rules(Exchange::reusing(r, config, decoder, learned, now)),
            _ => self.spare = Some(r),
        }
    }
}

impl<D: TextDecoder> super::sealed::Sealed for AllQueries<D> {}

impl<D: TextDecoder> Job<D> for AllQueries<D> {
    type Output = Answers<D::Text>;
    type Kind = ();
    fn start((): (), config: ExchangeConfig, decoder: D, learned: Learned, now: Instant, r: Reassembler) -> Self {
        AllQueries {
            config,
            decoder,
            stage: Stage::Info(Exchange::reusing(r, config, decoder, learned, now)),
            drain: None,
            owed: None,
            results: Box::new(Results { info: None, players: None, output: None }),
            learned,
            spare: None,
        }
    }
    fn has_transmit(&self) -> bool {
        match &self.stage {
            // (A drain still under way is told by poll_timeout; the send waits for it.)
            Stage::NextPlayers | Stage::NextRules => self.drain.is_none(),
            stage => on_stage!(stage, e => e.has_transmit(), false),
        }
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Request> {
        self.begin(now);
        on_stage!(&mut self.stage, e => e.poll_transmit(now), None)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        match &self.stage {
            Stage::NextPlayers | Stage::NextRules => self.drain.map(|d| d.until),
            stage => on_stage!(stage, e => e.poll_timeout(), None),
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        if self.drain.is_some_and(|d| d.is_over(now)) {
            self.drain = None;
        }
        on_stage!(&mut self.stage, e => e.handle_timeout(now), ());
        self.advance(now);
    }
    fn handle_datagram(&mut self, datagram: &[u8], now: Instant) {
        if let Some(drain) = self.drain.as_mut() {
            // Between two queries: owed to the last one, no one's answer.
            drain.absorb(datagram);
            if drain.is_over(now) {
                self.drain = None;
            }
            return;
        }
        on_stage!(&mut self.stage, e => e.handle_datagram(datagram, now), ());
        self.advance(now);
    }
    fn poll_output(&mut self) -> Option<Answers<D::Text>> {
        self.results.output.take()
    }
    fn learned(&self) -> Learned {
        on_stage!(&self.stage, e => e.learned(), self.learned)
    }
    fn draining(&self) -> Option<Draining> {
        on_stage!(&self.stage, e => e.draining(), self.owed)
    }
    fn has_sent(&self) -> bool {
        on_stage!(&self.stage, e => e.has_sent(), false)
    }
    fn fail(&mut self, error: Error, now: Instant) {
        self.drain = None;
        self.begin(now);
        on_stage!(&mut self.stage, e => e.fail(error), ());
        // (The next query starts: each part gets its own verdict.)
        self.advance(now);
    }
    fn recycle(&mut self) -> Reassembler {
        match &mut self.stage {
            Stage::Info(e) => e.take_reassembler(),
            Stage::Players(e) => e.take_reassembler(),
            Stage::Rules(e) => e.take_reassembler(),
            _ => self.spare.take().unwrap_or_else(|| Reassembler::new(self.config.limits)),
        }
    }
    fn timed_out((): (), config: ExchangeConfig) -> Answers<D::Text> {
        Answers { info: Err(silence(config)), players: Err(silence(config)), rules: Err(silence(config)) }
    }
}

/// The part of [`Answers`] a chain ended without (cannot happen: each part is set
/// before the next starts).
fn not_run<T>() -> Result<T> {
    Err(Error::InvalidInput("the query was not run"))
}

/// Which query an [`AnyQuery`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Kind {
    /// [`Info`].
    #[default]
    Info,
    /// [`Players`].
    Players,
    /// [`Rules`].
    Rules,
    /// [`ArmaRules`]: the rules, decoded.
    ArmaRules,
    /// [`AllQueries`]: info, players and rules in a row.
    All,
}

/// `info`, `players`, `rules`, `arma rules` or `all`.
impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Info => "info",
            Kind::Players => "players",
            Kind::Rules => "rules",
            Kind::ArmaRules => "arma rules",
            Kind::All => "all",
        })
    }
}

/// A query of any [`Kind`]: the job of every driver in the crate, so one engine holds
/// a server's queries of every kind (and joins equal ones).
#[derive(Debug)]
#[non_exhaustive]
// (Every variant holds an exchange of 700-odd bytes; the chain's extra 300 are not
// worth an allocation per query.)
#[allow(clippy::large_enum_variant)]
pub enum AnyQuery<D: TextDecoder> {
    /// An info query.
    Info(Exchange<Info<D::Text>, D>),
    /// A players query.
    Players(Exchange<Players<D::Text>, D>),
    /// A rules query.
    Rules(Exchange<Rules<D::Text>, D>),
    /// A rules query, decoded as Arma 3 / DayZ rules.
    ArmaRules(Exchange<ArmaRules<D::Text>, D>),
    /// The three queries in a row (boxed: the other kinds' jobs are half its size).
    All(Box<AllQueries<D>>),
}

/// The output of an [`AnyQuery`]: its kind's result.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AnyAnswer<S: TextBuf = String> {
    /// An info query's result.
    Info(Result<Info<S>>),
    /// A players query's result.
    Players(Result<Players<S>>),
    /// A rules query's result.
    Rules(Result<Rules<S>>),
    /// An Arma rules query's result.
    ArmaRules(Result<ArmaRules<S>>),
    /// The three results of [`AllQueries`].
    All(Answers<S>),
}

impl<S: TextBuf> AnyAnswer<S> {
    /// The answer of a query of `kind` that failed with `error` (each part, for
    /// [`Kind::All`]).
    pub fn failed(kind: Kind, error: Error) -> Self {
        match kind {
            Kind::Info => AnyAnswer::Info(Err(error)),
            Kind::Players => AnyAnswer::Players(Err(error)),
            Kind::Rules => AnyAnswer::Rules(Err(error)),
            Kind::ArmaRules => AnyAnswer::ArmaRules(Err(error)),
            Kind::All => {
                AnyAnswer::All(Answers { info: Err(error.clone()), players: Err(error.clone()), rules: Err(error) })
            }
        }
    }
}

/// Runs `$body` on the job inside, whatever its kind.
macro_rules! each {
    // (`$borrow`: how the boxed `all` job is reached, as the match binds the others.)
    (@[$($borrow:tt)+] $query:expr, $e:ident => $body:expr) => {
        match $query {
            AnyQuery::Info($e) => $body,
            AnyQuery::Players($e) => $body,
            AnyQuery::Rules($e) => $body,
            AnyQuery::ArmaRules($e) => $body,
            AnyQuery::All(all) => {
                let $e = $($borrow)+ **all;
                $body
            }
        }
    };
    (ref $query:expr, $e:ident => $body:expr) => {
        each!(@[&] $query, $e => $body)
    };
    ($query:expr, $e:ident => $body:expr) => {
        each!(@[&mut] $query, $e => $body)
    };
}

impl<D: TextDecoder> super::sealed::Sealed for AnyQuery<D> {}

impl<D: TextDecoder> Job<D> for AnyQuery<D> {
    type Output = AnyAnswer<D::Text>;
    type Kind = Kind;

    fn start(kind: Kind, config: ExchangeConfig, decoder: D, learned: Learned, now: Instant, r: Reassembler) -> Self {
        match kind {
            Kind::Info => AnyQuery::Info(Exchange::reusing(r, config, decoder, learned, now)),
            Kind::Players => AnyQuery::Players(Exchange::reusing(r, config, decoder, learned, now)),
            Kind::Rules => AnyQuery::Rules(Exchange::reusing(r, config, decoder, learned, now)),
            Kind::ArmaRules => AnyQuery::ArmaRules(Exchange::reusing(r, config, decoder, learned, now)),
            Kind::All => AnyQuery::All(Box::new(AllQueries::start((), config, decoder, learned, now, r))),
        }
    }
    fn has_transmit(&self) -> bool {
        each!(ref self, e => Job::has_transmit(e))
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Request> {
        each!(self, e => Job::poll_transmit(e, now))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        each!(ref self, e => Job::poll_timeout(e))
    }
    fn handle_timeout(&mut self, now: Instant) {
        each!(self, e => Job::handle_timeout(e, now));
    }
    fn handle_datagram(&mut self, datagram: &[u8], now: Instant) {
        each!(self, e => Job::handle_datagram(e, datagram, now));
    }
    fn poll_output(&mut self) -> Option<AnyAnswer<D::Text>> {
        match self {
            AnyQuery::Info(e) => e.poll_outcome().map(AnyAnswer::Info),
            AnyQuery::Players(e) => e.poll_outcome().map(AnyAnswer::Players),
            AnyQuery::Rules(e) => e.poll_outcome().map(AnyAnswer::Rules),
            AnyQuery::ArmaRules(e) => e.poll_outcome().map(AnyAnswer::ArmaRules),
            AnyQuery::All(e) => e.poll_output().map(AnyAnswer::All),
        }
    }
    fn learned(&self) -> Learned {
        each!(ref self, e => Job::learned(e))
    }
    fn draining(&self) -> Option<Draining> {
        each!(ref self, e => Job::draining(e))
    }
    fn has_sent(&self) -> bool {
        each!(ref self, e => Job::has_sent(e))
    }
    fn fail(&mut self, error: Error, now: Instant) {
        each!(self, e => Job::fail(e, error, now));
    }
    fn recycle(&mut self) -> Reassembler {
        each!(self, e => Job::recycle(e))
    }
    fn timed_out(kind: Kind, config: ExchangeConfig) -> AnyAnswer<D::Text> {
        AnyAnswer::failed(kind, silence(config))
    }
}

/// A result an [`AnyQuery`] of one kind gives: what a driver's caller asked for, taken
/// out of the [`AnyAnswer`].
pub(crate) trait Asked<S: TextBuf>: Sized {
    /// The result, from the answer of a query of its kind (an answer of another kind,
    /// which such a query cannot give, is an error).
    fn from_answer(answer: AnyAnswer<S>) -> Self;
}

/// An answer of another kind than asked: cannot happen, since each query gives its own.
fn mismatch() -> Error {
    Error::InvalidInput("an answer of another kind than the query's came back")
}

macro_rules! asked {
    ($t:ident, $kind:ident) => {
        impl<S: TextBuf> Asked<S> for Result<$t<S>> {
            fn from_answer(answer: AnyAnswer<S>) -> Self {
                match answer {
                    AnyAnswer::$kind(r) => r,
                    _ => Err(mismatch()),
                }
            }
        }
    };
}

asked!(Info, Info);
asked!(Players, Players);
asked!(Rules, Rules);
asked!(ArmaRules, ArmaRules);

impl<S: TextBuf> Asked<S> for Answers<S> {
    fn from_answer(answer: AnyAnswer<S>) -> Self {
        match answer {
            AnyAnswer::All(all) => all,
            _ => Answers { info: Err(mismatch()), players: Err(mismatch()), rules: Err(mismatch()) },
        }
    }
}
