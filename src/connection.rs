//! The connection state machine: glues the receiver and the sender; the
//! closing handshake's state and its transitions are in `lifecycle.rs`,
//! under its diagram.

use crate::prelude::*;

use crate::close::CloseFrame;
use crate::config::{Config, Role};
#[cfg(feature = "std")]
use crate::entropy::OsEntropy;
use crate::entropy::{EntropyError, EntropySource};
use crate::error::{ConnectionError, ProtocolError};
use crate::frame::OpCode;
use crate::recv::{Position, Receiver};
use crate::send::{Keys, SendExtras, Sender};
use core::fmt;
use core::marker::PhantomData;

#[cfg(feature = "deflate")]
use crate::deflate::{DeflateParams, Deflater, Inbound};

mod extras;
mod in_place;
mod level;
mod lifecycle;
mod messages;
mod send_owned;
mod sending;
mod stream;
mod timers;
mod with_bytes;

#[cfg(feature = "deflate")]
use extras::Inflating;
use extras::{Extras, Inbox, Lent};
pub use in_place::Outgoing;
pub use level::{Messages, ReceiveLevel, Streaming};
use lifecycle::Lifecycle;
pub use lifecycle::{Initiator, State};
pub use with_bytes::BytesEvent;

/// A WebSocket connection after the opening handshake, as a sans-IO state
/// machine.
///
/// The receive level is part of the type, chosen once, so the two cannot
/// be mixed by accident (each keeps its own partial message):
/// `Connection` (that is, `Connection<Messages>`) hands out whole owned
/// messages; [`into_streaming`](Connection::into_streaming) turns it into a
/// `Connection<Streaming>`, which hands out payload as it arrives. Bytes a
/// handshake read past its head wait inside the connection and come first
/// at either level.
///
/// Methods fall in three groups:
///
/// - **Receive**: at the message level, [`recv`](Connection::recv) +
///   [`poll_event`](Connection::poll_event), or
///   [`poll_event_from`](Connection::poll_event_from) on your own read
///   buffer (no copy); at the streaming level,
///   [`recv_in_place`](Connection::recv_in_place) (payload unmasked in the
///   caller's buffer) or [`recv_bytes`](Connection::recv_bytes); at both,
///   [`recv_eof`](Self::recv_eof) when the transport ends.
/// - **Send**: [`send_text`](Self::send_text),
///   [`send_binary`](Self::send_binary), [`send_fragment`](Self::send_fragment),
///   [`send_ping`](Self::send_ping), [`send_pong`](Self::send_pong),
///   [`close`](Self::close). They only queue bytes.
///   [`send_binary_owned`](Self::send_binary_owned) and
///   [`send_text_owned`](Self::send_text_owned) take the payload instead of
///   copying it.
/// - **Transmit**: [`poll_transmit`](Self::poll_transmit), or
///   [`pending_transmit`](Self::pending_transmit) (one chunk) or
///   [`pending_transmit_chunks`](Self::pending_transmit_chunks) (for a
///   vectored write) + [`advance_transmit`](Self::advance_transmit) for
///   partial writes without a copy; then [`state`](Self::state) says when to
///   close the transport.
///
/// After every receive or send call, write out what is pending. Nothing here
/// performs I/O, reads a clock or panics on any input.
pub struct Connection<L: ReceiveLevel = Messages> {
    /// [`Config::auto_pong`]: the only setting read after construction
    /// (the limits live in the receiver), so the config is not kept.
    auto_pong: bool,
    receiver: Receiver,
    sender: Sender,
    /// Everything a healthy server connection streaming its input does
    /// without, boxed on first use (see [`Extras`]).
    extras: Option<Box<Extras>>,
    /// The closing handshake's state, with the error that ended the
    /// connection, if one did (see `lifecycle.rs`).
    lifecycle: Lifecycle,
    /// [`Config::close_timeout`] in milliseconds, `u32::MAX` for none (see
    /// [`timers::to_millis`]); the keepalive's settings live in the extras,
    /// made at construction when it is on.
    close_timeout_ms: u32,
    /// Bytes arrived since the keepalive last looked.
    heard: bool,
    /// The streaming level has bytes or a partial message held in the
    /// inbox to hand out before its input (see [`Inbox`]); false at the
    /// message level, which always looks there.
    held: bool,
    /// How many bytes the last `poll_event_from` left in the caller's
    /// buffer (part of a frame): they come before anything fed with `recv`
    /// since. A `u32` to keep the connection small: a frame's part left
    /// there is at most `max_frame_len`, and past 4 GiB only the order of
    /// bytes fed with `recv` in the middle of it could be wrong.
    caller_holds: u32,
    level: PhantomData<L>,
}

impl Connection {
    /// A connection in `role` whose opening handshake is done (by this crate
    /// or by the transport). Clients draw masking keys from [`OsEntropy`]
    /// (ChaCha12 seeded once from the operating system's generator);
    /// without the `std` feature there is none, so a
    /// client made here cannot send (its sends fail with
    /// [`SendError::Entropy`](crate::SendError::Entropy)): use [`with_entropy`](Self::with_entropy).
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
    /// assert_eq!(server.poll_event()?, Some(Event::Text("compress me ".repeat(10).into())));
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
        let inbound = Inbound::new(&params, config.max_message_len, config.deflate.pool.clone());
        extras.inflating = Some(Box::new(Inflating {
            params,
            inbound,
            inflated: Vec::new(),
        }));
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
            auto_pong: config.auto_pong,
            receiver: Receiver::new(role, config),
            sender: Sender::new(role, config.send_high_water),
            extras,
            lifecycle: Lifecycle::Open,
            close_timeout_ms: config.close_timeout.map_or(u32::MAX, timers::to_millis),
            heard: false,
            held: false,
            caller_holds: 0,
            level: PhantomData,
        }
    }

    /// The same connection at the streaming level: payload handed out as
    /// it arrives ([`recv_in_place`](Connection::recv_in_place),
    /// [`recv_bytes`](Connection::recv_bytes)), whatever the size of the
    /// message. Nothing received is lost in the change: bytes still
    /// undecoded (a handshake's leftover, input fed with
    /// [`recv`](Self::recv)) and the part of a message already gathered
    /// are handed out first. Bytes still in a buffer given to
    /// [`poll_event_from`](Self::poll_event_from) are the caller's: feed
    /// them to `recv_in_place` next.
    ///
    /// ```
    /// use wsproto::{Config, Connection, Role, StreamEvent};
    ///
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// // Bytes read with the handshake, say: a masked "Hello" (RFC 6455 section 5.7).
    /// server.recv(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    /// let mut server = server.into_streaming();
    /// let (used, event) = server.recv_in_place(&mut [])?;
    /// assert_eq!(used, 0);
    /// assert!(matches!(event, Some(StreamEvent::Data { payload: b"Hello", fin: true, .. })));
    /// # Ok::<(), wsproto::ConnectionError>(())
    /// ```
    ///
    /// The message level's calls are gone from the streaming connection, so
    /// the two cannot be mixed by accident:
    ///
    /// ```compile_fail
    /// use wsproto::{Config, Connection, Role};
    ///
    /// let mut server = Connection::new(Role::Server, Config::default()).into_streaming();
    /// server.recv(b"bytes"); // error: no method `recv` on `Connection<Streaming>`
    /// ```
    pub fn into_streaming(mut self) -> Connection<Streaming> {
        // A message sent in one frame is decoded in place at the front of
        // the buffer it arrives in: that part is handed out as it is.
        if let Position::SingleFramePayload { decoded } = self.receiver.position() {
            if decoded > 0 {
                let caller_holds = self.caller_holds;
                let inbox = &mut self.extras().inbox;
                if caller_holds > 0 {
                    inbox.predecoded = decoded;
                } else if inbox.input.len() >= decoded {
                    inbox.message = inbox.input.split_to(decoded).to_vec();
                }
            }
        }
        let held = self.extras.as_ref().is_some_and(|extras| {
            let inbox = &extras.inbox;
            !inbox.input.is_empty() || !inbox.message.is_empty() || inbox.predecoded > 0
        });
        Connection {
            auto_pong: self.auto_pong,
            receiver: self.receiver,
            sender: self.sender,
            extras: self.extras,
            lifecycle: self.lifecycle,
            close_timeout_ms: self.close_timeout_ms,
            heard: self.heard,
            held,
            caller_holds: 0,
            level: PhantomData,
        }
    }
}

impl<L: ReceiveLevel> Connection<L> {
    /// The permessage-deflate parameters in force, if it was negotiated.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<DeflateParams> {
        self.inflating().map(|inflating| inflating.params)
    }

    /// Drops the extras if they hold nothing (see [`Extras::is_idle`]).
    fn release_idle_extras(&mut self) {
        if self.extras.as_deref().is_some_and(Extras::is_idle) {
            self.extras = None;
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
    /// (`tests/heap/linear_work.rs`).
    #[doc(hidden)]
    #[cfg(feature = "test-meter")]
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
        self.receiver.role()
    }

    /// Where the connection is in its life; [`State::Closed`] means the
    /// transport should be closed.
    pub fn state(&self) -> State {
        self.lifecycle.state(self.buffered_amount())
    }

    /// Caps what the message being received may make this connection
    /// hold, for now: what its frames announce, uncompressed (held in the
    /// caller's buffer as it arrives, or gathered), or what it inflates to.
    /// A message that would pass it fails the connection with
    /// [`ProtocolError::MessageOverAllowance`](crate::ProtocolError::MessageOverAllowance)
    /// (close code 1013, try again later) before it holds more;
    /// [`Config::max_message_len`] still applies, with its own error. A
    /// message that is whole in the input of a receive call is not held to
    /// it (it holds nothing more). The default, `u64::MAX`, allows all.
    ///
    /// For drivers that share a memory budget between connections (the
    /// tokio driver's `MemoryBudget`): before a receive call, allow what
    /// [`receive_held`](Self::receive_held) says plus what the budget
    /// grants; after it, charge what `receive_held` says then.
    ///
    /// ```
    /// use wsproto::{CloseCode, Config, Connection, ConnectionError, ProtocolError, Role};
    ///
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// // A masked binary frame's header, announcing 4096 bytes.
    /// let header = [0x82, 0x80 | 126, 0x10, 0x00, 1, 2, 3, 4];
    /// server.recv(&header);
    /// assert_eq!(server.poll_event(), Ok(None));
    /// assert_eq!(server.receive_held(), 4096);
    ///
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// server.set_receive_allowance(1024);
    /// server.recv(&header);
    /// let error = server.poll_event().unwrap_err();
    /// assert_eq!(
    ///     error,
    ///     ConnectionError::Protocol(ProtocolError::MessageOverAllowance {
    ///         len: 4096,
    ///         allowance: 1024,
    ///     })
    /// );
    /// assert_eq!(error.wire_close_code(), Some(CloseCode::TRY_AGAIN_LATER));
    /// ```
    pub fn set_receive_allowance(&mut self, allowance: u64) {
        self.receiver.set_allowance(allowance);
        #[cfg(feature = "deflate")]
        if let Some(inflating) = self
            .extras
            .as_deref_mut()
            .and_then(|extras| extras.inflating.as_deref_mut())
        {
            inflating.inbound.set_allowance(allowance);
        }
    }

    /// The most a received message may hold,
    /// [`Config::max_message_len`] as configured.
    pub fn max_message_len(&self) -> u64 {
        self.receiver.max_message_len()
    }

    /// What the message being received holds or will hold, as
    /// [`set_receive_allowance`](Self::set_receive_allowance) counts it:
    /// the payload its frames have announced so far, uncompressed; or,
    /// compressed, its inflated bytes so far (at the message level; plus
    /// at most 16 KiB of compressed input being inflated, not counted).
    /// 0 between messages, and once nothing more is received.
    pub fn receive_held(&self) -> u64 {
        if !self.receiving() {
            return 0;
        }
        match self.receiver.announced() {
            Some((announced, false)) => announced,
            Some((_, true)) => self.extras.as_ref().map_or(0, |extras| {
                u64::try_from(extras.inbox.message.len()).unwrap_or(u64::MAX)
            }),
            None => 0,
        }
    }

    /// Drops what the inbox holds (and its memory): nothing more will be
    /// decoded, or the message being gathered ended.
    fn release_inbox(&mut self) {
        if let Some(extras) = &mut self.extras {
            extras.inbox = Inbox::default();
        }
        self.held = false;
        self.release_idle_extras();
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

    // ----- receive, both levels (each level's own calls are in
    // `messages.rs` and `stream.rs`) -----

    /// Tells the connection the transport has ended (a read returned 0).
    /// What was received before is still decoded; then, without a close
    /// frame received first, this is an abnormal closure: the receive calls
    /// return [`ConnectionError::UnexpectedEof`] (close code 1006, which is
    /// never sent). Input given after this is ignored.
    pub fn recv_eof(&mut self) {
        self.lifecycle.on_input_end();
    }

    /// Whether received bytes are still decoded: no close frame decoded and
    /// no failure acted on.
    fn receiving(&self) -> bool {
        self.lifecycle.receiving()
    }

    /// Whether new input is taken: no close frame decoded, no failure, and
    /// the transport not ended.
    fn taking_input(&self) -> bool {
        self.lifecycle.taking_input()
    }

    /// What a receive call says once every byte it had was decoded: a
    /// timer's ending is reported now, and the transport's end, if it
    /// ended without a close, fails the connection.
    fn input_exhausted(&mut self) -> Result<(), ConnectionError> {
        let ending = !self.lifecycle.failed();
        let result = self.lifecycle.on_input_used_up();
        if ending && result.is_err() {
            self.release_inbox();
        }
        result
    }

    /// The sticky error the connection failed with (or a timer ended it
    /// with).
    fn failed(&self) -> Option<ConnectionError> {
        self.lifecycle.error()
    }

    /// Bytes received into the inbox (the message level's `recv`, a
    /// handshake's leftover), decoded by the next receive call.
    fn hold_input(&mut self, input: &[u8]) {
        self.heard |= !input.is_empty();
        if !input.is_empty() && self.taking_input() {
            self.extras().inbox.input.extend_from_slice(input);
        }
    }

    /// Queues the automatic pong. A client that cannot draw a masking key
    /// cannot send it; the ping is still reported.
    fn answer_ping(&mut self, payload: &[u8]) {
        if self.auto_pong && self.lifecycle.answers_pings() {
            let _ = self.queue_owed(OpCode::Pong, payload);
        }
    }

    /// Queues a control frame the connection owes on its own account (an
    /// automatic pong, a keepalive ping): it goes out at the next frame
    /// boundary of the queued data, after those owed before it. Over the
    /// high-water mark pongs are coalesced: only the newest is owed.
    fn queue_owed(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), EntropyError> {
        // The transport is not keeping up: only the newest pong is owed.
        let coalesce = !self.wants_read();
        let extras = self.extras.as_deref_mut().map(|e| &mut e.send);
        self.sender.owe(extras, opcode, payload, coalesce)
    }

    /// Records the peer's close and queues the echo of its code (RFC 6455
    /// section 5.5.1), unless we sent a close first. Without a masking key
    /// the echo cannot be sent and the transport is closed without it.
    fn answer_close(&mut self, frame: &CloseFrame) {
        let echo = self.lifecycle.on_peer_close();
        self.release_inbox();
        if echo {
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
        let close = self.lifecycle.on_protocol_error(error);
        self.release_inbox();
        if close {
            let code = error.close_code();
            let frame =
                CloseFrame::new(code, error.close_reason()).unwrap_or(CloseFrame::code_only(code));
            // If no masking key can be drawn the close cannot be sent; the
            // transport is closed without it.
            let extras = self.extras.as_deref_mut().map(|e| &mut e.send);
            let _ = self.sender.close(extras, &frame);
        }
    }
}

impl<L: ReceiveLevel> fmt::Debug for Connection<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role())
            .field("state", &self.state())
            .field("buffered_amount", &self.buffered_amount())
            .field(
                "held_input",
                &self
                    .extras
                    .as_ref()
                    .map_or(0, |extras| extras.inbox.input.len()),
            )
            .field("error", &self.failed())
            .finish_non_exhaustive()
    }
}
