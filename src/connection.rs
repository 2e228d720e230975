//! The connection state machine: glues the receiver and the sender and owns
//! the closing handshake.
//!
//! ```text
//!                      send close                     peer's close received
//!   ┌──────┐  ───────────────────────▶ Closing(Local) ─────────────────────┐
//!   │ Open │                                                               ▼
//!   └──────┘  ───────────────────────▶ Closing(Remote) ──(echo written)──▶ Closed
//!       │      peer's close received                                       ▲
//!       │      (echo queued)                                               │
//!       └── protocol error: close queued ──(close written)─────────────────┤
//!       └── end of stream ─────────────────────────────────────────────────┘
//! ```
//!
//! Every state can reach `Closed` by end of stream. A protocol error is
//! reported as `Closing(Local)` until its close frame has been written.

use crate::prelude::*;

use crate::close::{CloseCode, CloseFrame};
use crate::config::{Config, Role};
#[cfg(feature = "std")]
use crate::entropy::OsEntropy;
use crate::entropy::{EntropyError, EntropySource};
use crate::error::{ProtocolError, SendError};
use crate::event::{Event, MAX_CONTROL_PAYLOAD, MessageKind};
use crate::frame::OpCode;
use crate::recv::{Control, Receiver, Step};
use crate::send::{Keys, SendExtras, Sender, Urgent};
use core::fmt;

#[cfg(feature = "deflate")]
use crate::deflate::{DeflateParams, Deflater, Inbound};

mod in_place;
mod stream;
mod timers;
#[cfg(feature = "bytes")]
mod with_bytes;

pub use in_place::Outgoing;
#[cfg(feature = "bytes")]
pub use with_bytes::BytesEvent;

/// Which endpoint started the closing handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// This endpoint (the application called [`Connection::close`], or a
    /// protocol error made the connection fail).
    Local,
    /// The peer sent the first close frame.
    Remote,
}

/// Where a connection is in its life (see the diagram in `docs/design.md`).
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

/// A WebSocket connection after the opening handshake, as a sans-IO state
/// machine.
///
/// Methods fall in three groups:
///
/// - **Receive**: [`recv`](Self::recv) + [`poll_event`](Self::poll_event)
///   (whole messages), or [`recv_in_place`](Self::recv_in_place) (payload
///   streamed as it arrives, unmasked in the caller's buffer); and
///   [`recv_eof`](Self::recv_eof) when the transport ends. Use one level per
///   connection: each keeps its own partial message.
/// - **Send**: [`send_text`](Self::send_text),
///   [`send_binary`](Self::send_binary), [`send_fragment`](Self::send_fragment),
///   [`send_ping`](Self::send_ping), [`send_pong`](Self::send_pong),
///   [`close`](Self::close). They only queue bytes.
/// - **Transmit**: [`poll_transmit`](Self::poll_transmit), or
///   [`pending_transmit`](Self::pending_transmit) +
///   [`advance_transmit`](Self::advance_transmit) for partial writes without
///   a copy; then [`state`](Self::state) says when to close the transport.
///
/// After every receive or send call, write out what is pending. Nothing here
/// performs I/O, reads a clock or panics on any input.
pub struct Connection {
    role: Role,
    /// [`Config::auto_pong`]: the only setting read after construction
    /// (the limits live in the receiver), so the config is not kept.
    auto_pong: bool,
    receiver: Receiver,
    sender: Sender,
    /// Everything a healthy server connection streaming its input does
    /// without, boxed on first use (see [`Extras`]).
    extras: Option<Box<Extras>>,
    /// The decoder has read the peer's close frame and reads no further.
    close_decoded: bool,
    /// The application has been given the peer's close frame.
    close_received: bool,
    close_sent: bool,
    /// Who sent the first close frame (a failure counts as local).
    close_initiator: Option<Initiator>,
    eof: bool,
    /// Whether the connection failed (the error itself is in the extras).
    failure: Failure,
    /// [`Config::close_timeout`] in milliseconds, `u32::MAX` for none (see
    /// [`timers::to_millis`]); the keepalive's settings live in the extras,
    /// made at construction when it is on.
    close_timeout_ms: u32,
    /// Bytes arrived since the keepalive last looked.
    heard: bool,
}

/// Whether the connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    None,
    /// The message-level decoder found an error; it waits behind the events
    /// decoded before it.
    Pending,
    /// The error was acted on (its close frame queued) and is sticky.
    Failed,
}

/// What a healthy server connection streaming its input does without:
/// the message level's state, permessage-deflate, a client's key source and
/// the error a connection failed with. One box, made on first use, keeps
/// every connection small and an idle one free of heap.
#[derive(Default)]
struct Extras {
    inbox: Inbox,
    send: SendExtras,
    /// Boxed again: the extras of a connection without it should not carry
    /// its size.
    #[cfg(feature = "deflate")]
    inflating: Option<Box<Inflating>>,
    error: Option<ProtocolError>,
    timers: timers::Timers,
}

/// What the message level keeps between calls.
#[derive(Default)]
struct Inbox {
    /// The message being reassembled.
    message: Vec<u8>,
    /// Events decoded and not yet polled.
    events: VecDeque<Event>,
}

/// The receiving side of permessage-deflate.
#[cfg(feature = "deflate")]
struct Inflating {
    params: DeflateParams,
    inbound: Inbound,
    /// The streaming level's output buffer (allocated on first use).
    inflated: Vec<u8>,
}

impl Connection {
    /// A connection in `role` whose opening handshake is done (by this crate
    /// or by the transport). Clients draw masking keys from the operating
    /// system's generator; without the `std` feature there is none, so a
    /// client made here cannot send (its sends fail with
    /// [`SendError::Entropy`]): use [`with_entropy`](Self::with_entropy).
    pub fn new(role: Role, config: Config) -> Self {
        #[cfg(feature = "std")]
        let keys = Keys::Os(OsEntropy::new());
        #[cfg(not(feature = "std"))]
        let keys = Keys::Missing;
        Self::build(role, &config, keys)
    }

    /// Like [`new`](Self::new), with masking keys from `entropy` (for
    /// deterministic tests, or platforms without an OS generator).
    pub fn with_entropy(role: Role, config: Config, entropy: Box<dyn EntropySource>) -> Self {
        Self::build(role, &config, Keys::Custom(entropy))
    }

    /// A connection with permessage-deflate (RFC 7692) in force, for a
    /// handshake done elsewhere: `params` must be what both endpoints
    /// agreed on. The handshakes of this crate call it for you.
    ///
    /// ```
    /// use wsproto::{Config, Connection, DeflateParams, Event, OsEntropy, Role};
    ///
    /// let params = DeflateParams::new(15, 15, false, false).expect("valid window bits");
    /// let mut client = Connection::with_deflate(Role::Client, Config::default(), params, Box::new(OsEntropy::new()));
    /// let mut server = Connection::with_deflate(Role::Server, Config::default(), params.mirrored(), Box::new(OsEntropy::new()));
    /// client.send_text(&"compress me ".repeat(10))?;
    /// let mut wire = Vec::new();
    /// client.poll_transmit(&mut wire);
    /// assert_eq!(wire[0], 0xc1); // FIN, RSV1 (compressed), text
    /// server.recv(&wire);
    /// assert_eq!(server.poll_event()?, Some(Event::Text("compress me ".repeat(10))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "deflate")]
    pub fn with_deflate(
        role: Role,
        config: Config,
        params: DeflateParams,
        entropy: Box<dyn EntropySource>,
    ) -> Self {
        let mut connection = Self::build(role, &config, Keys::Custom(entropy));
        connection.enable_deflate(params, &config);
        connection
    }

    /// Turns permessage-deflate on, before any byte is exchanged.
    #[cfg(feature = "deflate")]
    pub(crate) fn enable_deflate(&mut self, params: DeflateParams, config: &Config) {
        self.receiver.allow_compression();
        let extras = self.extras();
        extras
            .send
            .enable_deflate(Deflater::new(&params, &config.deflate));
        let inbound = Inbound::new(&params, config.max_message_len);
        extras.inflating = Some(Box::new(Inflating {
            params,
            inbound,
            inflated: Vec::new(),
        }));
    }

    /// The permessage-deflate parameters in force, if it was negotiated.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.inflating().map(|inflating| inflating.params)
    }

    fn build(role: Role, config: &Config, keys: Keys) -> Self {
        // Only a client masks, so only a client keeps a key source.
        let mut extras = (role == Role::Client).then(|| {
            Box::new(Extras {
                send: SendExtras::with_keys(keys),
                ..Extras::default()
            })
        });
        if let Some(interval) = config.keepalive_interval {
            extras.get_or_insert_with(Box::default).timers =
                timers::Timers::with_keepalive(interval, config.keepalive_timeout);
        }
        Connection {
            role,
            auto_pong: config.auto_pong,
            receiver: Receiver::new(role, config),
            sender: Sender::new(role, config.send_high_water),
            extras,
            close_decoded: false,
            close_received: false,
            close_sent: false,
            close_initiator: None,
            eof: false,
            failure: Failure::None,
            close_timeout_ms: config.close_timeout.map_or(u32::MAX, timers::to_millis),
            heard: false,
        }
    }

    /// The extras, made on first use.
    fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// permessage-deflate's receiving side, if it was negotiated.
    #[cfg(feature = "deflate")]
    fn inflating(&self) -> Option<&Inflating> {
        self.extras.as_ref()?.inflating.as_deref()
    }

    /// Not part of the stable API: bytes the receive path has parsed,
    /// copied, unmasked and validated, read by the linear-work tests
    /// (`tests/linear_work.rs`).
    #[doc(hidden)]
    pub fn bytes_examined(&self) -> u64 {
        #[cfg(feature = "deflate")]
        let inflated = self
            .inflating()
            .map_or(0, |inflating| inflating.inbound.examined());
        #[cfg(not(feature = "deflate"))]
        let inflated = 0;
        self.receiver.examined() + inflated
    }

    /// This endpoint's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Where the connection is in its life; [`State::Closed`] means the
    /// transport should be closed.
    pub fn state(&self) -> State {
        let finished =
            self.eof || self.failed().is_some() || (self.close_sent && self.close_received);
        if finished && (self.eof || self.buffered_amount() == 0) {
            State::Closed
        } else {
            self.close_initiator.map_or(State::Open, State::Closing)
        }
    }

    // ----- receive, message level -----

    /// Feeds bytes read from the transport, in chunks of any size. Whole
    /// messages and control frames become events for
    /// [`poll_event`](Self::poll_event).
    ///
    /// All of `input` is consumed. Bytes after the peer's close frame, or
    /// after the connection failed, are ignored (RFC 6455 section 5.5.1).
    /// Events wait in a queue until polled: at most one 128-byte event per
    /// two input bytes, so feed reads of bounded size (say 16-64 KiB) and
    /// poll after each. The streaming level has no queue.
    ///
    /// Replies happen in order as events are polled: the pong when its ping
    /// is polled, the close echo when the close is polled, the failure's
    /// close frame when the error is polled. So the application can still
    /// answer the messages that arrived before a close or an error.
    pub fn recv(&mut self, mut input: &[u8]) {
        self.heard |= !input.is_empty();
        while !input.is_empty() && self.receiving() {
            // A whole unfragmented message: copied once into a buffer of
            // its exact size, without the general path (see `Receiver`).
            if let Some((used, piece)) = self.receiver.whole_message(input) {
                let mut data = input[piece.range.clone()].to_vec();
                self.receiver.count_examined(data.len());
                // Text is validated once, by `push_message`.
                let accepted = self.receiver.accept_whole(&mut data, &piece, false);
                if let Err(error) = accepted.and_then(|()| self.push_message(piece.kind, data)) {
                    return self.stop_receiving(error);
                }
                input = &input[used..];
                continue;
            }
            let (used, step) = match self.receiver.step(input) {
                Ok(found) => found,
                Err(error) => return self.stop_receiving(error),
            };
            match step {
                Step::NeedMore => {}
                #[cfg(feature = "deflate")]
                Step::Data(piece) if piece.compressed => {
                    let complete = match self.inflate_piece(&input[piece.range.clone()], &piece) {
                        Ok(complete) => complete,
                        Err(error) => return self.stop_receiving(error),
                    };
                    if complete {
                        let data = core::mem::take(&mut self.extras().inbox.message);
                        if let Err(error) = self.push_message(piece.kind, data) {
                            return self.stop_receiving(error);
                        }
                    }
                }
                Step::Data(piece) => {
                    let message = &mut self.extras.get_or_insert_with(Box::default).inbox.message;
                    let start = message.len();
                    message.extend_from_slice(&input[piece.range.clone()]);
                    self.receiver.count_examined(piece.range.len());
                    if let Err(error) = self.receiver.accept_data(&mut message[start..], &piece) {
                        return self.stop_receiving(error);
                    }
                    if piece.fin {
                        let data = core::mem::take(message);
                        if let Err(error) = self.push_message(piece.kind, data) {
                            return self.stop_receiving(error);
                        }
                    }
                }
                Step::Control(control) => {
                    self.close_decoded |= matches!(control, Control::Close(_));
                    self.extras().inbox.events.push_back(control.into_event());
                }
            }
            input = &input[used..];
        }
    }

    /// Queues a complete message (already validated).
    fn push_message(&mut self, kind: MessageKind, data: Vec<u8>) -> Result<(), ProtocolError> {
        let event = match kind {
            MessageKind::Binary => Event::Binary(data),
            MessageKind::Text => {
                self.receiver.count_examined(data.len());
                // The only check of a whole message from the fast path; a
                // second one (unavoidable in safe code) for the others,
                // validated as they arrived.
                Event::Text(String::from_utf8(data).map_err(|_| ProtocolError::InvalidUtf8)?)
            }
        };
        self.extras().inbox.events.push_back(event);
        Ok(())
    }

    /// Drops the message being reassembled (and its memory).
    fn drop_partial_message(&mut self) {
        if let Some(extras) = &mut self.extras {
            extras.inbox.message = Vec::new();
        }
    }

    /// Unmasks a compressed piece into the decompressor and inflates it
    /// onto the message being reassembled; returns whether it completed.
    #[cfg(feature = "deflate")]
    fn inflate_piece(
        &mut self,
        bytes: &[u8],
        piece: &crate::recv::DataPiece,
    ) -> Result<bool, ProtocolError> {
        self.take_compressed(bytes, piece)?;
        let Extras {
            inbox, inflating, ..
        } = self.extras();
        inflating.as_mut().map_or(Ok(false), |inflating| {
            inflating.inbound.inflate_onto(&mut inbox.message)
        })
    }

    /// Copies a compressed piece (still masked, from the input) into the
    /// decompressor and unmasks it there; both receive levels.
    #[cfg(feature = "deflate")]
    fn take_compressed(
        &mut self,
        bytes: &[u8],
        piece: &crate::recv::DataPiece,
    ) -> Result<(), ProtocolError> {
        let Some(Inflating { inbound, .. }) = self
            .extras
            .as_deref_mut()
            .and_then(|extras| extras.inflating.as_deref_mut())
        else {
            // RSV1 is refused unless permessage-deflate was negotiated.
            return Err(ProtocolError::ReservedBits(crate::recv::RSV1));
        };
        self.receiver.count_examined(bytes.len());
        let compressed = inbound.push(piece.kind, bytes, piece.fin);
        self.receiver.accept_data(compressed, piece)
    }

    /// The next message-level event, in the order the peer sent them.
    ///
    /// `Ok(None)` means more input is needed. Once the connection has failed,
    /// the events decoded before the failure come first, then the
    /// [`ProtocolError`] is returned on this and every later call.
    pub fn poll_event(&mut self) -> Result<Option<Event>, ProtocolError> {
        if let Some(event) = self
            .extras
            .as_mut()
            .and_then(|extras| extras.inbox.events.pop_front())
        {
            match &event {
                Event::Ping(payload) => self.answer_ping(payload),
                Event::Close(frame) => self.answer_close(frame),
                _ => {}
            }
            return Ok(Some(event));
        }
        if let Some(error) = self.take_pending_error() {
            self.fail(error);
        }
        self.failed().map_or(Ok(None), Err)
    }

    /// Stops the message-level decoder at `error`; the error is reported
    /// after the events decoded before it.
    fn stop_receiving(&mut self, error: ProtocolError) {
        self.extras().error = Some(error);
        self.failure = Failure::Pending;
        self.drop_partial_message();
    }

    // ----- receive, end of stream (the streaming level is in `stream.rs`) -----

    /// Tells the connection the transport has ended (a read returned 0).
    /// Without a close frame received first this is an abnormal closure: the
    /// receive calls then return [`ProtocolError::UnexpectedEof`] (close code
    /// 1006, which is never sent).
    pub fn recv_eof(&mut self) {
        if self.receiving() {
            self.stop_receiving(ProtocolError::UnexpectedEof);
        }
        self.eof = true;
    }

    fn receiving(&self) -> bool {
        !self.close_decoded && !self.eof && self.failure == Failure::None
    }

    /// The sticky error the connection failed with (not one still pending).
    fn failed(&self) -> Option<ProtocolError> {
        if self.failure != Failure::Failed {
            return None;
        }
        self.extras.as_ref()?.error
    }

    /// The error the message-level decoder found, if it is still to be
    /// acted on.
    fn take_pending_error(&mut self) -> Option<ProtocolError> {
        if self.failure != Failure::Pending {
            return None;
        }
        self.failure = Failure::None;
        self.extras.as_mut()?.error.take()
    }

    /// Queues the automatic pong. A client that cannot draw a masking key
    /// cannot send it; the ping is still reported.
    fn answer_ping(&mut self, payload: &[u8]) {
        if self.auto_pong && !self.close_sent && self.failed().is_none() {
            let _ = self.queue_owed(OpCode::Pong, payload);
        }
    }

    /// Queues a control frame the connection owes on its own account (an
    /// automatic pong, a keepalive ping): in order into the outbox when
    /// only such frames wait there, else ahead of the queued data, at its
    /// next frame boundary, where a newer pong replaces one not started.
    /// Over the high-water mark pongs are coalesced: only the newest is
    /// owed.
    fn queue_owed(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), EntropyError> {
        if opcode == OpCode::Pong && !self.wants_read() {
            // The transport is not keeping up: only the newest pong is owed.
            if let Some(urgent) = self.urgent_mut() {
                urgent.drop_unstarted_pong();
            }
            self.sender.retract_tail_pong();
        }
        if self.sender.only_owed_pending() && self.urgent().is_none_or(Urgent::is_empty) {
            let extras = self.extras.as_deref_mut().map(|e| &mut e.send);
            return self.sender.owed_in_outbox(extras, opcode, payload);
        }
        let send = &mut self.extras.get_or_insert_with(Box::default).send;
        self.sender.owed_urgently(send, opcode, payload)
    }

    fn urgent(&self) -> Option<&Urgent> {
        self.extras.as_deref()?.send.urgent.as_deref()
    }

    fn urgent_mut(&mut self) -> Option<&mut Urgent> {
        self.extras.as_deref_mut()?.send.urgent.as_deref_mut()
    }

    /// Records the peer's close and queues the echo of its code (RFC 6455
    /// section 5.5.1), unless we sent a close first. Without a masking key
    /// the echo cannot be sent and the transport is closed without it.
    fn answer_close(&mut self, frame: &CloseFrame) {
        self.close_received = true;
        self.close_initiator.get_or_insert(Initiator::Remote);
        self.drop_partial_message();
        if !self.close_sent {
            self.close_sent = true;
            let extras = self.extras.as_deref_mut().map(|e| &mut e.send);
            let _ = self
                .sender
                .close(extras, &CloseFrame::code_only(frame.code()));
        }
    }

    /// Fails the connection (RFC 6455 section 7.1.7): the error becomes
    /// sticky and, unless a close was already sent, a close frame with the
    /// error's code is queued.
    fn fail(&mut self, error: ProtocolError) {
        self.extras().error = Some(error);
        self.failure = Failure::Failed;
        self.drop_partial_message();
        // 1006 (end of stream) is never sent.
        if !self.close_sent && error.close_code().is_sendable() {
            self.close_sent = true;
            self.close_initiator = Some(Initiator::Local);
            let code = error.close_code();
            let frame =
                CloseFrame::new(code, error.close_reason()).unwrap_or(CloseFrame::code_only(code));
            // If no masking key can be drawn the close cannot be sent; the
            // transport is closed without it.
            let extras = self.extras.as_deref_mut().map(|e| &mut e.send);
            let _ = self.sender.close(extras, &frame);
        }
    }

    // ----- send -----

    /// Queues a text message as a single frame.
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.check_can_send()?;
        let extras = self.extras.as_deref_mut().map(|e| &mut e.send);
        self.sender
            .message(extras, MessageKind::Text, text.as_bytes())
    }

    /// Queues a binary message as a single frame.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.check_can_send()?;
        let extras = self.extras.as_deref_mut().map(|e| &mut e.send);
        self.sender.message(extras, MessageKind::Binary, data)
    }

    /// Queues one fragment of a message of `kind`: the first call starts the
    /// message, the call with `fin = true` ends it. Pings, pongs and a close
    /// may be sent between fragments; other messages may not.
    ///
    /// Text fragments may split a character, but together they must be
    /// valid UTF-8, else [`SendError::InvalidUtf8`] and nothing is queued.
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), SendError> {
        self.check_can_send()?;
        let extras = self.extras.as_deref_mut().map(|e| &mut e.send);
        self.sender.fragment(extras, kind, payload, fin)
    }

    /// Queues a ping (payload at most 125 bytes).
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Queues a pong (payload at most 125 bytes): an unsolicited heartbeat,
    /// or the answer to a ping when [`Config::auto_pong`] is off.
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload)
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        self.check_can_send()?;
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        let extras = self.extras.as_deref_mut().map(|e| &mut e.send);
        Ok(self.sender.control(extras, opcode, payload)?)
    }

    /// Starts the closing handshake: queues a close frame with `code` and
    /// `reason` (at most 123 bytes). No data frame can be sent afterwards;
    /// incoming messages are still delivered until the peer's close arrives.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.check_open()?;
        if !code.is_sendable() {
            return Err(SendError::UnsendableCloseCode(code));
        }
        let frame =
            CloseFrame::new(code, reason).ok_or(SendError::CloseReasonTooLong(reason.len()))?;
        let extras = self.extras.as_deref_mut().map(|e| &mut e.send);
        self.sender.close(extras, &frame)?;
        self.close_sent = true;
        self.close_initiator = Some(Initiator::Local);
        Ok(())
    }

    fn check_open(&self) -> Result<(), SendError> {
        if self.close_sent || self.eof || self.failed().is_some() {
            Err(SendError::Closed)
        } else {
            Ok(())
        }
    }

    /// Open, and under the high-water mark.
    fn check_can_send(&self) -> Result<(), SendError> {
        self.check_open()?;
        self.sender.check_room(self.urgent())
    }

    // ----- transmit -----

    /// Appends every byte waiting for the transport to `out` and returns how
    /// many there were. When `out` is empty this moves a buffer instead of
    /// copying.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        let urgent = self
            .extras
            .as_deref_mut()
            .and_then(|e| e.send.urgent.as_deref_mut());
        self.sender.drain_into(urgent, out)
    }

    /// The bytes to write next, without a copy; report what was written
    /// with [`advance_transmit`](Self::advance_transmit) and call again
    /// until it is empty. Usually all that waits; while a pong or keepalive
    /// ping is owed, only up to the end of the frame being written, then
    /// that control frame, so it overtakes queued data without landing
    /// inside a frame.
    pub fn pending_transmit(&self) -> &[u8] {
        self.sender.pending(self.urgent())
    }

    /// Marks the first `n` bytes of [`pending_transmit`](Self::pending_transmit)
    /// as written (clamped to it).
    pub fn advance_transmit(&mut self, n: usize) {
        let urgent = self
            .extras
            .as_deref_mut()
            .and_then(|e| e.send.urgent.as_deref_mut());
        self.sender.advance(urgent, n);
    }

    // ----- backpressure -----

    /// How many bytes wait to be written to the transport, like the
    /// browser's `WebSocket.bufferedAmount`: everything queued and not yet
    /// reported written. It does not count a payload lent out by
    /// [`send_in_place`](Self::send_in_place).
    pub fn buffered_amount(&self) -> usize {
        self.sender.buffered(self.urgent())
    }

    /// Whether the driver should read more input: `false` while
    /// [`buffered_amount`](Self::buffered_amount) is over
    /// [`Config::send_high_water`]. Reading on would only queue replies the
    /// transport cannot take (sends are refused with
    /// [`SendError::WouldBlock`] meanwhile); pausing reads passes the
    /// backpressure on to the peer through the transport's own flow
    /// control. Write out what is pending, then read again.
    pub fn wants_read(&self) -> bool {
        self.buffered_amount() <= self.sender.high_water()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state())
            .field("buffered_amount", &self.buffered_amount())
            .field(
                "queued_events",
                &self
                    .extras
                    .as_ref()
                    .map_or(0, |extras| extras.inbox.events.len()),
            )
            .field("error", &self.failed())
            .finish_non_exhaustive()
    }
}
