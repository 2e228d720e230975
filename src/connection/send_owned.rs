//! Sending a payload the caller hands over, without a second copy: a large
//! one is queued by reference and written from its own memory.

use super::{Connection, ReceiveLevel};
use crate::error::SendError;
use crate::event::MessageKind;
use crate::send::BY_REFERENCE_MIN;
use crate::utf8_bytes::Utf8Bytes;
use bytes::Bytes;

impl<L: ReceiveLevel> Connection<L> {
    /// Queues a binary message as a single frame, taking the payload
    /// instead of copying it: a `Vec<u8>` or `BytesMut` becomes `Bytes`
    /// without a copy, and a received [`Event::Binary`](crate::Event::Binary)
    /// can be sent back as it is.
    ///
    /// Any payload that is `Into<Bytes>` and `AsRef<[u8]>`: `Vec<u8>`,
    /// `Bytes`, `BytesMut`, `Box<[u8]>`, `String`, `&'static [u8]`.
    /// A payload of 4 KiB or more is queued by reference: the outbox holds
    /// the header and the `Bytes`, and the payload goes out from its own
    /// memory (write it with [`pending_transmit_chunks`](Self::pending_transmit_chunks),
    /// header and payload in one vectored write). A client masks it in
    /// place when it is the buffer's only owner (`Bytes::try_into_mut`),
    /// else masks a copy, the only one made. A smaller payload is copied
    /// into the outbox as [`send_binary`](Self::send_binary) would (and
    /// dropped, never made into `Bytes`), so small frames stay coalesced
    /// into one write; with permessage-deflate
    /// a payload worth compressing is compressed as with `send_binary`.
    /// [`buffered_amount`](Self::buffered_amount) counts a payload held by
    /// reference until it is written.
    ///
    /// ```
    /// use wsproto::{Config, Connection, Role};
    ///
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// let payload = vec![1u8; 64 << 10];
    /// let at = payload.as_ptr();
    /// server.send_binary_owned(payload)?;
    /// let mut chunks = [&[][..]; 2];
    /// assert_eq!(server.pending_transmit_chunks(&mut chunks), 2);
    /// assert_eq!(chunks[0], [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]); // the header
    /// assert_eq!(chunks[1].as_ptr(), at); // the payload, not copied
    /// # Ok::<(), wsproto::SendError>(())
    /// ```
    pub fn send_binary_owned<P>(&mut self, payload: P) -> Result<(), SendError>
    where
        P: Into<Bytes> + AsRef<[u8]>,
    {
        let bytes = payload.as_ref();
        if bytes.len() < BY_REFERENCE_MIN {
            // Copied from the payload as it is, then dropped: no `Bytes` is
            // made (a reference count, a vtable call) for a copy.
            return self.send_binary(bytes);
        }
        self.send_owned(MessageKind::Binary, payload.into())
    }

    /// Queues a text message as a single frame, taking the text instead of
    /// copying it (a `String` becomes [`Utf8Bytes`] without a copy, and a
    /// received [`Event::Text`](crate::Event::Text) can be sent back as it
    /// is). Otherwise as [`send_binary_owned`](Self::send_binary_owned).
    pub fn send_text_owned<T>(&mut self, text: T) -> Result<(), SendError>
    where
        T: Into<Utf8Bytes> + AsRef<str>,
    {
        let str = text.as_ref();
        if str.len() < BY_REFERENCE_MIN {
            return self.send_text(str);
        }
        self.send_owned(MessageKind::Text, text.into().into_bytes())
    }

    /// A payload of at least [`BY_REFERENCE_MIN`] bytes: queued by
    /// reference (or compressed).
    fn send_owned(&mut self, kind: MessageKind, payload: Bytes) -> Result<(), SendError> {
        self.check_can_send()?;
        let extras = self.extras.as_deref_mut().map(|e| &mut e.send);
        self.sender.message_owned(extras, kind, payload)
    }
}
