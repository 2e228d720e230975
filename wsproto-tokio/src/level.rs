//! What a [`WebSocket`](crate::WebSocket) hands out, by the core's receive
//! level: whole [`Message`]s ([`Messages`], the default), or the pieces of
//! each message as they arrive, [`Chunk`]s ([`Streaming`]), for messages of
//! any size in constant memory.

use bytes::{Bytes, BytesMut};
use wsproto::{
    BytesEvent, CloseFrame, Connection, ConnectionError, MessageKind, Messages, ReceiveLevel,
    Streaming,
};

use crate::Message;

/// A receive level the driver runs: [`Messages`] or [`Streaming`].
/// Sealed: this crate implements it for both.
pub trait Receive: ReceiveLevel + sealed::Sealed + Sized + Unpin + Send + Sync + 'static {
    /// What `recv` hands out: [`Message`] or [`Chunk`].
    type Item: Send + 'static;

    /// Whether, once an item was decoded and `buf` is left empty, nothing
    /// more can be decoded until more bytes come: true for whole messages;
    /// a streaming connection may still hold inflated output to hand out.
    #[doc(hidden)]
    const DRAINED_WHEN_EMPTY: bool;

    /// Decodes the next item from the front of `buf`.
    #[doc(hidden)]
    fn decode(
        conn: &mut Connection<Self>,
        buf: &mut BytesMut,
    ) -> Result<Option<Self::Item>, ConnectionError>;

    /// Whether `item` queued an answer (a pong, a close's echo) that should
    /// go out before it is handed over.
    #[doc(hidden)]
    fn answered(item: &Self::Item) -> bool;

    /// Whether `item` is the peer's close frame (nothing follows it).
    #[doc(hidden)]
    fn is_close(item: &Self::Item) -> bool;
}

impl Receive for Messages {
    type Item = Message;

    const DRAINED_WHEN_EMPTY: bool = true;

    #[inline]
    fn decode(
        conn: &mut Connection<Self>,
        buf: &mut BytesMut,
    ) -> Result<Option<Message>, ConnectionError> {
        Ok(conn.poll_event_from(buf)?.map(Message::from))
    }

    #[inline]
    fn answered(item: &Message) -> bool {
        matches!(item, Message::Ping(_) | Message::Close(_))
    }

    #[inline]
    fn is_close(item: &Message) -> bool {
        matches!(item, Message::Close(_))
    }
}

impl Receive for Streaming {
    type Item = Chunk;

    const DRAINED_WHEN_EMPTY: bool = false;

    fn decode(
        conn: &mut Connection<Self>,
        buf: &mut BytesMut,
    ) -> Result<Option<Chunk>, ConnectionError> {
        Ok(conn.recv_bytes(buf)?.map(Chunk::from))
    }

    fn answered(item: &Chunk) -> bool {
        matches!(item, Chunk::Ping(_) | Chunk::Close(_))
    }

    fn is_close(item: &Chunk) -> bool {
        matches!(item, Chunk::Close(_))
    }
}

/// A piece of what a streaming [`WebSocket`](crate::WebSocket) receives
/// (after [`into_streaming`](crate::WebSocket::into_streaming)): a data
/// message's payload as it arrives, or a control frame.
///
/// The pieces of one message come in order, the last with `fin`; nothing
/// is gathered, so a message of any size passes in the memory of one read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunk {
    /// A piece of a text or binary message. For text, the pieces are
    /// validated as they arrive (the whole message is valid UTF-8 once
    /// `fin` has come), but a piece may end inside a character: join bytes,
    /// not strings.
    Data {
        /// Text or binary, the same for every piece of a message.
        kind: MessageKind,
        /// The piece, sharing the memory it was read into.
        payload: Bytes,
        /// Whether this is the message's last piece.
        fin: bool,
    },
    /// A ping, already answered.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The peer's close frame, already echoed; `recv` ends next. Boxed, as
    /// in [`Message::Close`], so that every chunk is small.
    Close(Option<Box<CloseFrame>>),
}

impl From<BytesEvent> for Chunk {
    fn from(event: BytesEvent) -> Self {
        match event {
            BytesEvent::Data { kind, payload, fin } => Chunk::Data { kind, payload, fin },
            BytesEvent::Control(control) => match Message::from(control) {
                Message::Ping(payload) => Chunk::Ping(payload),
                Message::Pong(payload) => Chunk::Pong(payload),
                Message::Close(frame) => Chunk::Close(frame),
                Message::Text(_) | Message::Binary(_) => {
                    unreachable!("a control frame converts to a control message")
                }
            },
            // `BytesEvent` is non-exhaustive; every variant it has is above.
            #[allow(unreachable_patterns)]
            _ => unreachable!("an event kind this driver does not know"),
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for wsproto::Messages {}
    impl Sealed for wsproto::Streaming {}
}
