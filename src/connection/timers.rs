//! Deadlines as data: the close-handshake timeout and the keepalive. The
//! connection never reads a clock; the driver tells it the time with
//! [`Connection::handle_timeout`] and sleeps until the instant it returns.
//!
//! Deadlines are offsets on the driver's clock (see [`Clock`]), so the
//! logic needs nothing but `core::time::Duration`; with `std`, `Instant`s
//! are accepted and returned too.

use super::{Connection, ReceiveLevel, State};
#[cfg(feature = "std")]
use crate::clock::Clock;
use crate::close::CloseCode;
use crate::error::{ConnectionError, SendError};
use crate::frame::OpCode;
use core::time::Duration;
#[cfg(feature = "std")]
use std::time::Instant;

/// The timers' state, in the connection's extras: made when the closing
/// handshake is first timed, or at construction with a keepalive.
#[derive(Default)]
pub(super) struct Timers {
    /// The origin of the `Instant`s handed in, if any.
    #[cfg(feature = "std")]
    clock: Clock,
    /// When the closing handshake gives up (armed once it has started).
    close_deadline: Option<Duration>,
    keepalive: Option<Keepalive>,
}

impl Timers {
    /// Timers with a keepalive ping after `interval` of silence, failing
    /// the connection `timeout` after the ping if nothing came back.
    pub(super) fn with_keepalive(interval: Duration, timeout: Duration) -> Self {
        Timers {
            keepalive: Some(Keepalive {
                interval,
                timeout,
                idle_deadline: None,
                answer_deadline: None,
            }),
            ..Timers::default()
        }
    }
}

impl Timers {
    /// Whether no deadline is armed and no keepalive runs: the timers can
    /// be dropped (the clock's origin is taken again at the next call).
    pub(super) fn is_idle(&self) -> bool {
        self.close_deadline.is_none() && self.keepalive.is_none()
    }
}

struct Keepalive {
    interval: Duration,
    timeout: Duration,
    /// When to ping if nothing arrives before.
    idle_deadline: Option<Duration>,
    /// When an unanswered ping fails the connection.
    answer_deadline: Option<Duration>,
}

/// A configured timeout in whole milliseconds, rounded up, small enough to
/// keep inline in every connection: `u32::MAX` (about 49.7 days) and more
/// mean none.
pub(super) fn to_millis(timeout: Duration) -> u32 {
    let millis = timeout.as_nanos().div_ceil(1_000_000);
    u32::try_from(millis).unwrap_or(u32::MAX)
}

impl<L: ReceiveLevel> Connection<L> {
    /// Starts the closing handshake at `now` (the driver's clock, as given
    /// to [`handle_timeout`](Self::handle_timeout)): queues a close frame
    /// with `code` and `reason` (at most 123 bytes) and starts
    /// [`Config::close_timeout`](crate::Config::close_timeout), so
    /// [`poll_timeout`](Self::poll_timeout) gives its deadline at once. No
    /// data frame can be sent afterwards; incoming messages are still
    /// delivered until the peer's close arrives.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use wsproto::{CloseCode, Config, Connection, Role};
    ///
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// let now = Instant::now();
    /// server.close(now, CloseCode::NORMAL, "bye")?;
    /// // A driver that sleeps until `poll_timeout` wakes when the peer is late.
    /// assert_eq!(server.poll_timeout(), Some(now + Duration::from_secs(10)));
    /// # Ok::<(), wsproto::SendError>(())
    /// ```
    #[cfg(feature = "std")]
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.start_close(code, reason)?;
        if self.close_timeout_ms != u32::MAX {
            let at = self.extras().timers.clock.offset(now);
            self.arm_close_deadline(at);
        }
        Ok(())
    }

    /// [`close`](Self::close) on a clock without `Instant` (`no_std`):
    /// `now` is an offset on the clock given to
    /// [`handle_timeout_at`](Self::handle_timeout_at).
    pub fn close_at(
        &mut self,
        now: Duration,
        code: CloseCode,
        reason: &str,
    ) -> Result<(), SendError> {
        self.start_close(code, reason)?;
        self.arm_close_deadline(now);
        Ok(())
    }

    /// [`Config::close_timeout`](crate::Config::close_timeout), as
    /// configured (to the millisecond, rounded up): `None` for none. A
    /// driver bounds its own waits at the end with it too, such as a
    /// client's wait for the server to close the transport first once the
    /// connection is [`Closed`](crate::State::Closed) (RFC 6455 section
    /// 7.1.1).
    ///
    /// ```
    /// use std::time::Duration;
    /// use wsproto::{Config, Connection, Role};
    ///
    /// let client = Connection::new(Role::Client, Config::default());
    /// assert_eq!(client.close_timeout(), Some(Duration::from_secs(10)));
    /// let mut config = Config::default();
    /// config.close_timeout = None;
    /// assert_eq!(Connection::new(Role::Client, config).close_timeout(), None);
    /// ```
    pub fn close_timeout(&self) -> Option<Duration> {
        (self.close_timeout_ms != u32::MAX)
            .then(|| Duration::from_millis(u64::from(self.close_timeout_ms)))
    }

    /// Starts the closing handshake's timer at `now`, if one is set.
    fn arm_close_deadline(&mut self, now: Duration) {
        if self.close_timeout_ms != u32::MAX {
            let timeout = Duration::from_millis(u64::from(self.close_timeout_ms));
            let timers = &mut self.extras().timers;
            timers
                .close_deadline
                .get_or_insert(now.saturating_add(timeout));
        }
    }

    /// Tells the connection the time; returns when it next needs to be
    /// told (sleep until then, or until the transport is ready), `None`
    /// when no timer runs.
    ///
    /// Call it every time the driver wakes up, whatever woke it (input, a
    /// finished write, the timer itself): it starts the timers that became
    /// due since the last call (the closing handshake's, when the peer
    /// started it or the connection failed, is counted from the first call
    /// that sees it started; [`close`](Self::close) starts it itself) and
    /// fires the ones whose deadline is at or before `now`:
    ///
    /// - **Keepalive** ([`Config::keepalive_interval`](crate::Config::keepalive_interval)):
    ///   after that long without a byte from the peer, a ping is queued
    ///   (write out [`pending_transmit`](Self::pending_transmit) as after any
    ///   call). If neither a pong nor any other byte arrives within
    ///   [`Config::keepalive_timeout`](crate::Config::keepalive_timeout),
    ///   the connection fails with [`ConnectionError::KeepaliveTimeout`].
    /// - **Closing handshake** ([`Config::close_timeout`](crate::Config::close_timeout)):
    ///   if it has not finished in time, the connection fails with
    ///   [`ConnectionError::CloseTimeout`].
    ///
    /// A timeout sends nothing (its close code, 1006, never goes on the
    /// wire) and drops what was waiting to be written: [`state`](Self::state)
    /// is [`State::Closed`], so drop the transport. The receive calls report
    /// the error, after any events decoded before it.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use wsproto::{CloseCode, Config, Connection, ConnectionError, Role, State};
    ///
    /// let mut config = Config::default();
    /// config.close_timeout = Some(Duration::from_secs(5));
    /// let mut server = Connection::new(Role::Server, config);
    /// let start = Instant::now(); // the driver's clock, read by the driver
    /// assert_eq!(server.handle_timeout(start), None); // nothing to time yet
    ///
    /// server.close(start, CloseCode::NORMAL, "bye")?;
    /// let deadline = server.handle_timeout(start);
    /// assert_eq!(deadline, Some(start + Duration::from_secs(5)));
    ///
    /// // The peer never answers: at the deadline, give up.
    /// server.handle_timeout(start + Duration::from_secs(5));
    /// assert_eq!(server.state(), State::Closed);
    /// assert_eq!(server.poll_event(), Err(ConnectionError::CloseTimeout));
    /// # Ok::<(), wsproto::SendError>(())
    /// ```
    #[cfg(feature = "std")]
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Instant> {
        if !self.timing() {
            // No timer runs: no clock to keep either (and no heap).
            return self.poll_timeout();
        }
        let at = self.extras().timers.clock.offset(now);
        let next = self.handle_timeout_at(at)?;
        self.extras.as_deref()?.timers.clock.instant(next)
    }

    /// When the connection next needs [`handle_timeout`](Self::handle_timeout);
    /// `None` when no timer runs. Right after [`close`](Self::close); a
    /// closing handshake the peer started is timed from the next
    /// `handle_timeout`, which the drive loop calls after decoding.
    #[cfg(feature = "std")]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let next = self.poll_timeout_at()?;
        self.extras.as_deref()?.timers.clock.instant(next)
    }

    /// [`handle_timeout`](Self::handle_timeout) on a clock without
    /// `Instant` (`no_std`): `now` and the returned deadline are offsets
    /// from an origin of the driver's choosing (boot, say) on a monotonic
    /// clock. Use one of the two on a connection, not both.
    pub fn handle_timeout_at(&mut self, now: Duration) -> Option<Duration> {
        if !self.timing() {
            return self.poll_timeout_at();
        }
        let state = self.state();
        let close_timeout = (self.close_timeout_ms != u32::MAX).then_some(self.close_timeout_ms);
        let heard = core::mem::take(&mut self.heard);
        let timers = &mut self.extras().timers;
        let at = now;
        let check = match (state, close_timeout) {
            (State::Closing(_), Some(millis)) => {
                let timeout = Duration::from_millis(u64::from(millis));
                let deadline = *timers
                    .close_deadline
                    .get_or_insert(at.saturating_add(timeout));
                if at >= deadline {
                    Check::Expired(ConnectionError::CloseTimeout)
                } else {
                    Check::Wait
                }
            }
            (State::Closing(_), None) => Check::Wait,
            _ => timers
                .keepalive
                .as_mut()
                .map_or(Check::Wait, |keepalive| keepalive.check(at, heard)),
        };
        match check {
            Check::Wait => {}
            // The only failure is a client without a masking key; the
            // answer deadline then fails the connection.
            Check::Ping => drop(self.queue_owed(OpCode::Ping, &[])),
            Check::Expired(error) => self.time_out(error),
        }
        self.poll_timeout_at()
    }

    /// [`poll_timeout`](Self::poll_timeout) as an offset on the driver's
    /// clock, for [`handle_timeout_at`](Self::handle_timeout_at).
    pub fn poll_timeout_at(&self) -> Option<Duration> {
        let timers = &self.extras.as_deref()?.timers;
        match self.state() {
            State::Closed => None,
            State::Closing(_) => timers.close_deadline,
            State::Open => timers.keepalive.as_ref().and_then(Keepalive::deadline),
        }
    }

    /// Whether a timer runs in this state: the closing handshake's, or the
    /// keepalive while open.
    fn timing(&self) -> bool {
        match self.state() {
            State::Closed => false,
            State::Closing(_) => self.close_timeout_ms != u32::MAX,
            State::Open => self
                .extras
                .as_deref()
                .is_some_and(|extras| extras.timers.keepalive.is_some()),
        }
    }

    /// Fails the connection on a timer: nothing is sent, what waited to be
    /// written is dropped, and the state is `Closed`. Bytes received
    /// before are still decoded at the message level (their events come
    /// before the error); no input is taken any more.
    fn time_out(&mut self, error: ConnectionError) {
        // Nothing more goes out: not even the echo of a close decoded from
        // the bytes received before.
        self.lifecycle.on_timeout(error);
        self.sender.discard();
    }
}

/// What a timer wants at a given time.
enum Check {
    Wait,
    /// The keepalive's ping is due.
    Ping,
    Expired(ConnectionError),
}

impl Keepalive {
    fn check(&mut self, at: Duration, heard: bool) -> Check {
        if self.idle_deadline.is_none() || heard {
            // Bytes arrived (a pong, or anything else) since the last look:
            // the peer is alive, the silence starts again.
            self.idle_deadline = Some(at.saturating_add(self.interval));
            self.answer_deadline = None;
            return Check::Wait;
        }
        if let Some(deadline) = self.answer_deadline {
            return if at >= deadline {
                Check::Expired(ConnectionError::KeepaliveTimeout)
            } else {
                Check::Wait
            };
        }
        match self.idle_deadline {
            Some(deadline) if at >= deadline => {
                self.answer_deadline = Some(at.saturating_add(self.timeout));
                Check::Ping
            }
            _ => Check::Wait,
        }
    }

    fn deadline(&self) -> Option<Duration> {
        self.answer_deadline.or(self.idle_deadline)
    }
}
