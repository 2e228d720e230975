//! The opening handshake's timer, shared by both roles. It lives in a file
//! of its own because [`ServerHandshake`](super::ServerHandshake) and
//! [`ClientHandshake`](super::ClientHandshake) both hold one: kept in
//! `server.rs`, it made the client import from the server.

#[cfg(feature = "std")]
use crate::clock::Clock;
use core::time::Duration;

/// The opening handshake's timer, shared by both roles: the configured
/// timeout, turned into a deadline by the first
/// [`handle`](Self::handle). The handshakes call it only while reading.
#[derive(Clone, Copy, Debug)]
pub(super) struct HandshakeTimer {
    /// The configured timeout until the first call takes it (`None`: wait
    /// for ever).
    timeout: Option<Duration>,
    /// Armed by the first call when there is a timeout (and `now + timeout`
    /// fits a `Duration`; past that is for ever).
    deadline: Option<Duration>,
    /// The origin of the `Instant`s handed in, if any.
    #[cfg(feature = "std")]
    pub(super) clock: Clock,
}

/// The deadline has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Expired;

impl HandshakeTimer {
    pub(super) fn new(timeout: Option<Duration>) -> Self {
        HandshakeTimer {
            timeout,
            deadline: None,
            #[cfg(feature = "std")]
            clock: Clock::default(),
        }
    }

    /// Arms the deadline on the first call, then checks it: the deadline
    /// to wake up at (`None` without a timeout), or [`Expired`] at or past
    /// it.
    pub(super) fn handle(&mut self, now: Duration) -> Result<Option<Duration>, Expired> {
        if let Some(timeout) = self.timeout.take() {
            // The first call: the clock starts now. A deadline past the end
            // of `Duration` is never reached; leave it unarmed.
            self.deadline = now.checked_add(timeout);
        }
        match self.deadline {
            Some(deadline) if now >= deadline => Err(Expired),
            deadline => Ok(deadline),
        }
    }

    /// The armed deadline, if any.
    pub(super) fn deadline(&self) -> Option<Duration> {
        self.deadline
    }
}
