//! The closing handshake's state: one enum, and every transition that
//! changes it, in this file (h11's rule). The connection asks it what is
//! allowed (decode, take input, send, answer a ping) and tells it what
//! happened; it answers with what to queue, never queuing itself.
//!
//! ```text
//!              our close queued                  peer's close decoded
//!   ┌──────┐ ─────────────────▶ CloseSent ──────────────────────────────┐
//!   │ Open │                                                            ▼
//!   └──────┘ ─────────────────────────────────────────────▶ CloseReceived(initiator)
//!    │  │  │    peer's close decoded (echo queued)                      │
//!    │  │  │                                              transport ends│
//!    │  │  └── transport ends ──▶ InputEnded ── close decoded ──▶ Closed ◀┘
//!    │  │      (from Open or          │
//!    │  │       CloseSent)            └── input used up ──┐
//!    │  └── protocol error (close queued) ────────────────┴──▶ Failed(error)
//!    └── a timer ends it (from any state, nothing sent) ──▶ Ending(error) ──▶ Failed
//! ```
//!
//! `Ending` hands out what was received before the timer fired (at the
//! message level), then becomes `Failed`. The public [`State`] is derived
//! from this and from whether bytes still wait to be written
//! ([`Lifecycle::state`]).

use crate::error::{ConnectionError, ProtocolError};

/// Which endpoint started the closing handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// This endpoint (the application called
    /// [`Connection::close`](crate::Connection::close), or a protocol error
    /// made the connection fail).
    Local,
    /// The peer sent the first close frame.
    Remote,
}

/// Where a connection is in its life, as the driver needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// One close frame has been sent or received, not both. With
    /// `Local`, incoming messages are still delivered while the peer's close
    /// is awaited; with `Remote`, the echo is queued and waits to be written.
    Closing(Initiator),
    /// Nothing more will be sent or received: close the transport. A server
    /// closes it at once; a client should first wait (with a timeout) for the
    /// server to close it, as RFC 6455 section 7.1.1 asks.
    Closed,
}

/// The closing handshake's state (see the diagram above).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lifecycle {
    /// Messages flow both ways.
    Open,
    /// Our close frame is queued; the peer's is awaited, and its messages
    /// are still delivered.
    CloseSent,
    /// The peer's close frame was decoded (nothing after it is); ours,
    /// first or the echo, was queued.
    CloseReceived(Initiator),
    /// The transport ended first: what was received before is still
    /// decoded. A close frame among it ends the connection cleanly;
    /// otherwise it fails with [`ConnectionError::UnexpectedEof`].
    InputEnded {
        /// Whether our close frame was queued before.
        close_sent: bool,
    },
    /// A timer gave up: nothing more is sent or taken in, but the message
    /// level still hands out what was received before, then the error.
    Ending(ConnectionError),
    /// The connection failed; the error is sticky.
    Failed {
        error: ConnectionError,
        /// The transport ended too: nothing queued can be written.
        input_ended: bool,
    },
    /// Both close frames were exchanged and the transport ended.
    Closed,
}

impl Lifecycle {
    // ----- questions -----

    /// Whether received bytes are still decoded.
    pub(super) fn receiving(self) -> bool {
        matches!(
            self,
            Lifecycle::Open
                | Lifecycle::CloseSent
                | Lifecycle::InputEnded { .. }
                | Lifecycle::Ending(_)
        )
    }

    /// Whether new input is taken (the transport still delivers).
    pub(super) fn taking_input(self) -> bool {
        matches!(self, Lifecycle::Open | Lifecycle::CloseSent)
    }

    /// Whether the application may queue a frame: no close sent, no
    /// failure, the transport not ended.
    pub(super) fn can_send(self) -> bool {
        self == Lifecycle::Open
    }

    /// Whether a ping is answered: no close queued and no failure.
    pub(super) fn answers_pings(self) -> bool {
        matches!(
            self,
            Lifecycle::Open | Lifecycle::InputEnded { close_sent: false }
        )
    }

    /// The error that ended the connection, once a timer or a failure
    /// did.
    pub(super) fn error(self) -> Option<ConnectionError> {
        match self {
            Lifecycle::Ending(error) | Lifecycle::Failed { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether the connection failed and reports its error at once (no
    /// event received before a timer waits to be handed out).
    pub(super) fn failed(self) -> bool {
        matches!(self, Lifecycle::Failed { .. })
    }

    /// The public state, given how many bytes wait to be written.
    pub(super) fn state(self, buffered: usize) -> State {
        match self {
            Lifecycle::Open => State::Open,
            Lifecycle::CloseSent => State::Closing(Initiator::Local),
            Lifecycle::CloseReceived(initiator) if buffered > 0 => State::Closing(initiator),
            // A failure's close frame (ours: the peer's close stops all
            // decoding, so no failure follows it) waits to be written.
            Lifecycle::Ending(_)
            | Lifecycle::Failed {
                input_ended: false, ..
            } if buffered > 0 => State::Closing(Initiator::Local),
            Lifecycle::CloseReceived(_)
            | Lifecycle::InputEnded { .. }
            | Lifecycle::Ending(_)
            | Lifecycle::Failed { .. }
            | Lifecycle::Closed => State::Closed,
        }
    }

    // ----- transitions -----

    /// Our close frame was queued (only while open: see
    /// [`can_send`](Self::can_send)).
    pub(super) fn on_close_sent(&mut self) {
        if *self == Lifecycle::Open {
            *self = Lifecycle::CloseSent;
        }
    }

    /// The peer's close frame was decoded; returns whether to queue the
    /// echo (RFC 6455 section 5.5.1): when we had sent no close.
    pub(super) fn on_peer_close(&mut self) -> bool {
        let (next, echo) = match *self {
            Lifecycle::Open => (Lifecycle::CloseReceived(Initiator::Remote), true),
            Lifecycle::CloseSent => (Lifecycle::CloseReceived(Initiator::Local), false),
            // The peer may have half-closed after its close: the echo can
            // still reach it.
            Lifecycle::InputEnded { close_sent } => (Lifecycle::Closed, !close_sent),
            // A timer gave up first: nothing more is sent, and the error
            // follows the close event.
            Lifecycle::Ending(error) => (
                Lifecycle::Failed {
                    error,
                    input_ended: false,
                },
                false,
            ),
            // Nothing is decoded in these states.
            other
            @ (Lifecycle::CloseReceived(_) | Lifecycle::Failed { .. } | Lifecycle::Closed) => {
                (other, false)
            }
        };
        *self = next;
        echo
    }

    /// The peer broke the protocol; returns whether to queue a close frame
    /// with the error's code (RFC 6455 section 7.1.7): when none was sent.
    pub(super) fn on_protocol_error(&mut self, error: ProtocolError) -> bool {
        let (input_ended, close) = match *self {
            Lifecycle::Open => (false, true),
            Lifecycle::InputEnded { close_sent } => (true, !close_sent),
            // Ours was sent already (a timer's ending sends nothing).
            Lifecycle::CloseSent | Lifecycle::Ending(_) => (false, false),
            // Nothing is decoded in these states.
            Lifecycle::CloseReceived(_) | Lifecycle::Failed { .. } | Lifecycle::Closed => {
                return false;
            }
        };
        *self = Lifecycle::Failed {
            error: ConnectionError::Protocol(error),
            input_ended,
        };
        close
    }

    /// The transport ended (a read returned 0).
    pub(super) fn on_input_end(&mut self) {
        *self = match *self {
            Lifecycle::Open => Lifecycle::InputEnded { close_sent: false },
            Lifecycle::CloseSent => Lifecycle::InputEnded { close_sent: true },
            Lifecycle::CloseReceived(_) => Lifecycle::Closed,
            Lifecycle::Failed { error, .. } => Lifecycle::Failed {
                error,
                input_ended: true,
            },
            // A timer's ending already sends and takes nothing.
            other @ (Lifecycle::InputEnded { .. } | Lifecycle::Ending(_) | Lifecycle::Closed) => {
                other
            }
        };
    }

    /// A timer gave up (close or keepalive timeout): nothing more is sent
    /// (the caller drops what waits to be written), and the timer's error
    /// is the one reported from now on.
    pub(super) fn on_timeout(&mut self, error: ConnectionError) {
        *self = match *self {
            // What was received before still comes first.
            Lifecycle::Open | Lifecycle::CloseSent | Lifecycle::InputEnded { .. } => {
                Lifecycle::Ending(error)
            }
            // Nothing more is decoded: the error comes next.
            Lifecycle::CloseReceived(_) | Lifecycle::Ending(_) | Lifecycle::Closed => {
                Lifecycle::Failed {
                    error,
                    input_ended: false,
                }
            }
            // A failure's close frame was not read in time.
            Lifecycle::Failed { input_ended, .. } => Lifecycle::Failed { error, input_ended },
        };
    }

    /// Every byte received was decoded (or the level hands nothing out
    /// after a timer): a timer's ending becomes the failure, and the
    /// transport's end without a close fails the connection. Returns the
    /// sticky error, if any.
    pub(super) fn on_input_used_up(&mut self) -> Result<(), ConnectionError> {
        match *self {
            Lifecycle::Ending(error) => {
                *self = Lifecycle::Failed {
                    error,
                    input_ended: false,
                };
                Err(error)
            }
            Lifecycle::InputEnded { .. } => {
                let error = ConnectionError::UnexpectedEof;
                *self = Lifecycle::Failed {
                    error,
                    input_ended: true,
                };
                Err(error)
            }
            Lifecycle::Failed { error, .. } => Err(error),
            Lifecycle::Open
            | Lifecycle::CloseSent
            | Lifecycle::CloseReceived(_)
            | Lifecycle::Closed => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIOLATION: ProtocolError = ProtocolError::InvalidUtf8;

    #[test]
    fn a_close_we_start_is_closed_by_the_peers_answer() {
        let mut lifecycle = Lifecycle::Open;
        lifecycle.on_close_sent();
        assert_eq!(lifecycle.state(7), State::Closing(Initiator::Local));
        assert!(!lifecycle.can_send() && lifecycle.receiving() && !lifecycle.answers_pings());
        assert!(!lifecycle.on_peer_close(), "no echo after our own close");
        assert_eq!(lifecycle, Lifecycle::CloseReceived(Initiator::Local));
        assert_eq!(lifecycle.state(7), State::Closing(Initiator::Local));
        assert_eq!(lifecycle.state(0), State::Closed);
        assert_eq!(lifecycle.on_input_used_up(), Ok(()));
    }

    #[test]
    fn the_peers_close_is_echoed_once_and_stops_decoding() {
        let mut lifecycle = Lifecycle::Open;
        assert!(lifecycle.on_peer_close());
        assert_eq!(lifecycle.state(2), State::Closing(Initiator::Remote));
        assert!(!lifecycle.receiving() && !lifecycle.can_send());
        assert!(!lifecycle.on_peer_close(), "a second close is not decoded");
        assert!(!lifecycle.on_protocol_error(VIOLATION));
        assert_eq!(lifecycle.error(), None);
        lifecycle.on_input_end();
        assert_eq!(lifecycle, Lifecycle::Closed);
        assert_eq!(lifecycle.state(2), State::Closed);
    }

    #[test]
    fn a_violation_queues_one_close_and_is_sticky() {
        let mut lifecycle = Lifecycle::Open;
        assert!(lifecycle.on_protocol_error(VIOLATION));
        let error = ConnectionError::Protocol(VIOLATION);
        assert_eq!(lifecycle.error(), Some(error));
        assert_eq!(lifecycle.state(4), State::Closing(Initiator::Local));
        assert_eq!(lifecycle.state(0), State::Closed);
        assert_eq!(lifecycle.on_input_used_up(), Err(error));
        assert_eq!(lifecycle.on_input_used_up(), Err(error), "sticky");
        lifecycle.on_input_end();
        assert_eq!(lifecycle.state(4), State::Closed, "nothing can be written");

        let mut after_close = Lifecycle::CloseSent;
        assert!(!after_close.on_protocol_error(VIOLATION), "ours went first");
        assert_eq!(after_close.error(), Some(error));
    }

    #[test]
    fn the_transports_end_fails_once_what_came_before_is_decoded() {
        let mut lifecycle = Lifecycle::Open;
        lifecycle.on_input_end();
        assert_eq!(lifecycle.state(3), State::Closed);
        assert!(lifecycle.receiving() && !lifecycle.taking_input() && !lifecycle.can_send());
        assert_eq!(lifecycle.error(), None, "not before its input is used up");
        assert_eq!(
            lifecycle.on_input_used_up(),
            Err(ConnectionError::UnexpectedEof)
        );
        assert!(lifecycle.failed());

        // A close among what came before ends it cleanly, echoed once.
        let mut lifecycle = Lifecycle::Open;
        lifecycle.on_input_end();
        assert!(lifecycle.on_peer_close());
        assert_eq!(lifecycle, Lifecycle::Closed);
        assert_eq!(lifecycle.on_input_used_up(), Ok(()));
        let mut lifecycle = Lifecycle::CloseSent;
        lifecycle.on_input_end();
        assert!(!lifecycle.on_peer_close());
    }

    #[test]
    fn a_timer_ends_after_what_came_before_and_sends_nothing() {
        for mut lifecycle in [Lifecycle::Open, Lifecycle::CloseSent] {
            lifecycle.on_timeout(ConnectionError::CloseTimeout);
            assert!(lifecycle.receiving() && !lifecycle.taking_input());
            assert!(!lifecycle.can_send() && !lifecycle.answers_pings());
            assert!(!lifecycle.failed(), "events before it come first");
            assert!(!lifecycle.on_peer_close(), "no echo after a timeout");
            assert!(lifecycle.failed());
            assert_eq!(lifecycle.state(0), State::Closed);
            assert_eq!(
                lifecycle.on_input_used_up(),
                Err(ConnectionError::CloseTimeout)
            );
        }
        // After the peer's close, or a failure, nothing more is decoded.
        let mut lifecycle = Lifecycle::CloseReceived(Initiator::Remote);
        lifecycle.on_timeout(ConnectionError::CloseTimeout);
        assert!(!lifecycle.receiving() && lifecycle.failed());
        let mut lifecycle = Lifecycle::Open;
        assert!(lifecycle.on_protocol_error(VIOLATION));
        lifecycle.on_timeout(ConnectionError::CloseTimeout);
        assert!(!lifecycle.receiving());
        assert_eq!(lifecycle.error(), Some(ConnectionError::CloseTimeout));

        let mut lifecycle = Lifecycle::Open;
        lifecycle.on_timeout(ConnectionError::KeepaliveTimeout);
        assert!(!lifecycle.on_protocol_error(VIOLATION), "nothing is sent");
        assert_eq!(
            lifecycle.error(),
            Some(ConnectionError::Protocol(VIOLATION))
        );
    }
}
