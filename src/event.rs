//! What the connection reports to the application.

use crate::close::CloseFrame;
use core::fmt;
use core::ops::Deref;

/// The two kinds of data message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text (opcode 0x1).
    Text,
    /// Arbitrary bytes (opcode 0x2).
    Binary,
}

/// The largest payload of a control frame (ping, pong, close).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A ping or pong payload, at most 125 bytes, stored inline (no allocation).
/// Dereferences to `[u8]`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ControlPayload {
    len: u8,
    bytes: [u8; MAX_CONTROL_PAYLOAD],
}

impl ControlPayload {
    /// A payload holding `data`, or `None` if it is over 125 bytes.
    pub fn new(data: &[u8]) -> Option<Self> {
        (data.len() <= MAX_CONTROL_PAYLOAD).then(|| Self::truncated(data))
    }

    /// A payload holding the first 125 bytes of `data` at most.
    pub(crate) fn truncated(data: &[u8]) -> Self {
        let len = data.len().min(MAX_CONTROL_PAYLOAD);
        let mut payload = ControlPayload {
            len: len as u8,
            bytes: [0; MAX_CONTROL_PAYLOAD],
        };
        payload.bytes[..len].copy_from_slice(&data[..len]);
        payload
    }

    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl Deref for ControlPayload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for ControlPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ControlPayload({:?})", self.as_bytes())
    }
}

/// A control frame received: the same type at every receive level
/// ([`Event::Control`], [`StreamEvent::Control`],
/// [`BytesEvent::Control`](crate::BytesEvent::Control) and the
/// [`Decoder`](crate::Decoder)'s events), so one function can handle it
/// whatever the level.
///
/// ```
/// use wsproto::Control;
///
/// fn on_control(control: Control) -> bool {
///     match control {
///         // The pong is already queued, unless `Config::auto_pong` is off.
///         Control::Ping(_) | Control::Pong(_) => true,
///         // So is the echo of a close the peer started: no more events.
///         Control::Close(frame) => {
///             println!("closed: {} {}", frame.code(), frame.reason());
///             false
///         }
///     }
/// }
/// # assert!(on_control(Control::Ping(wsproto::ControlPayload::new(b"hi").unwrap())));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// A ping; unless [`Config::auto_pong`](crate::Config::auto_pong) is
    /// off, the pong is already queued (a
    /// [`Decoder`](crate::Decoder) user answers it).
    Ping(ControlPayload),
    /// A pong.
    Pong(ControlPayload),
    /// The peer's close frame. If the peer started the closing handshake,
    /// a connection has queued the echo already; no further events
    /// follow.
    Close(CloseFrame),
}

/// A message-level event: whole messages, reassembled from their fragments,
/// owned by the caller (they outlive the next call, and can be sent back or
/// moved to another task without a copy).
///
/// A message that arrived in one frame shares the read buffer's memory
/// (split off it, unmasked in place); one that arrived in fragments, or
/// compressed, was gathered into a buffer of its own.
#[cfg(feature = "alloc")]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A complete text message, validated once as it arrived.
    Text(crate::Utf8Bytes),
    /// A complete binary message.
    Binary(bytes::Bytes),
    /// A ping, a pong or the peer's close (see [`Control`]).
    Control(Control),
}

/// A streaming-level event: payload handed out as it arrives, unmasked in
/// place in the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamEvent<'a> {
    /// A piece of a data message's payload.
    ///
    /// For text, the pieces are validated incrementally (the whole message is
    /// valid UTF-8 once `fin` is seen), but one piece may end inside a
    /// character: join the bytes, not `&str`s.
    Data {
        /// Text or binary, the same for every piece of a message.
        kind: MessageKind,
        /// The unmasked bytes, borrowed from the buffer passed in; for a
        /// compressed message, inflated bytes borrowed from the connection.
        payload: &'a [u8],
        /// Whether this is the last piece of the message.
        fin: bool,
    },
    /// A ping, a pong or the peer's close (see [`Control`]).
    Control(Control),
}
