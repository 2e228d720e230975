//! The streaming level over a `bytes::BytesMut` read buffer: payload handed out as `Bytes` that share the buffer's memory.

use bytes::{Bytes, BytesMut};

use super::{Connection, Streaming};
use crate::error::ConnectionError;
use crate::event::{Control, MessageKind, StreamEvent};
use core::ops::Range;

/// An event of [`Connection::recv_bytes`]: [`StreamEvent`] with its
/// payload owned, as a [`Bytes`] that shares the read buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BytesEvent {
    /// A piece of a data message, unmasked; `fin` on its last piece.
    Data {
        /// Text or binary, as the message's first frame said.
        kind: MessageKind,
        /// The piece, sharing the read buffer's memory (a copy only for an
        /// inflated permessage-deflate message).
        payload: Bytes,
        /// Whether this is the message's last piece.
        fin: bool,
    },
    /// A ping, a pong or the peer's close (see [`Control`]).
    Control(Control),
}

/// What one step found, before the buffer is split.
enum Found {
    /// Payload at this place in the consumed bytes.
    InBuffer(Range<usize>, MessageKind, bool),
    /// Payload from the connection's own buffer (inflated), copied.
    Copied(Bytes, MessageKind, bool),
    Other(BytesEvent),
}

impl Connection<Streaming> {
    /// [`recv_in_place`](Self::recv_in_place) over a [`BytesMut`]: decodes
    /// from the front of `buf` until one event is found or `buf` is used
    /// up, and splits off what it consumed, so `buf` keeps only the bytes
    /// still to decode (read more onto its end). A data piece's payload is
    /// a [`Bytes`] pointing into the split-off memory: unmasked in place,
    /// never copied, and it keeps that memory alive (drop it to let `buf`
    /// reuse its capacity). Returns `None` when `buf` is used up.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use wsproto::{BytesEvent, Config, Connection, Role};
    ///
    /// let mut server = Connection::new(Role::Server, Config::default()).into_streaming();
    /// // A masked text frame "Hello" (RFC 6455 section 5.7), as read.
    /// let mut buf = BytesMut::from(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58][..]);
    /// let event = server.recv_bytes(&mut buf)?;
    /// let Some(BytesEvent::Data { payload, fin: true, .. }) = event else { panic!("{event:?}") };
    /// assert_eq!(payload, "Hello");
    /// assert!(buf.is_empty());
    /// # Ok::<(), wsproto::ConnectionError>(())
    /// ```
    pub fn recv_bytes(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<BytesEvent>, ConnectionError> {
        // The payload's place is found from its address: in-place pieces
        // lie inside the consumed bytes, inflated ones elsewhere.
        let base = buf.as_ptr() as usize;
        let (used, found) = {
            let (used, event) = self.recv_in_place(&mut buf[..])?;
            let found = match event {
                None => None,
                Some(StreamEvent::Data { kind, payload, fin }) => {
                    let start = (payload.as_ptr() as usize).wrapping_sub(base);
                    Some(match start.checked_add(payload.len()) {
                        Some(end) if end <= used => Found::InBuffer(start..end, kind, fin),
                        _ => Found::Copied(Bytes::copy_from_slice(payload), kind, fin),
                    })
                }
                Some(StreamEvent::Control(control)) => {
                    Some(Found::Other(BytesEvent::Control(control)))
                }
            };
            (used, found)
        };
        let consumed = buf.split_to(used).freeze();
        Ok(found.map(|found| match found {
            Found::InBuffer(range, kind, fin) => BytesEvent::Data {
                kind,
                payload: consumed.slice(range),
                fin,
            },
            Found::Copied(payload, kind, fin) => BytesEvent::Data { kind, payload, fin },
            Found::Other(event) => event,
        }))
    }
}
