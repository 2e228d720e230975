//! Sending without copying the payload: the header is queued, the payload
//! stays in the caller's buffer until the transport has taken it.

use super::{Connection, Messages, ReceiveLevel};
use crate::error::{Misuse, SendError};
use crate::event::MessageKind;

/// A message queued by [`Connection::send_in_place`] whose payload is still
/// in the caller's buffer. Write [`chunks`](Self::chunks) to the transport
/// (with a vectored write, say) and report each write with
/// [`advance`](Self::advance).
///
/// Dropping it copies whatever the transport has not taken into the
/// connection's own buffer, so the frame stays whole whatever happens: the
/// rest goes out with [`Connection::pending_transmit`] like any other frame.
/// While it lives, the connection is borrowed, so nothing can be queued
/// between the header and its payload.
#[derive(Debug)]
#[must_use = "write the chunks out; dropping it copies the payload into the connection"]
pub struct Outgoing<'c, 'p, L: ReceiveLevel = Messages> {
    conn: &'c mut Connection<L>,
    /// The payload bytes not yet written (masked, for a client).
    payload: &'p [u8],
}

impl<L: ReceiveLevel> Outgoing<'_, '_, L> {
    /// What to write next, in order: the connection's pending bytes
    /// (ending with this message's header), then the rest of the payload.
    /// Either may be empty. While the connection's pending bytes come in
    /// more than one piece (a control frame it owes, a payload queued by
    /// reference before this message), the first chunk is the next piece
    /// and the second is empty: write, [`advance`](Self::advance) and ask
    /// again until [`remaining`](Self::remaining) is 0.
    pub fn chunks(&self) -> [&[u8]; 2] {
        let pending = self.conn.sender.pending();
        // The payload follows the header only once nothing else is between.
        let payload = if pending.len() == self.conn.buffered_amount() {
            self.payload
        } else {
            &[]
        };
        [pending, payload]
    }

    /// How many bytes are still to be written.
    pub fn remaining(&self) -> usize {
        self.conn.buffered_amount() + self.payload.len()
    }

    /// Marks the first `n` bytes of [`chunks`](Self::chunks) as written
    /// (clamped to them).
    pub fn advance(&mut self, n: usize) {
        let [pending, payload] = self.chunks();
        let (pending, payload_open) = (pending.len(), !payload.is_empty());
        self.conn.advance_transmit(n.min(pending));
        if payload_open {
            let rest = n.saturating_sub(pending).min(self.payload.len());
            self.payload = &self.payload[rest..];
        }
    }
}

impl<L: ReceiveLevel> Drop for Outgoing<'_, '_, L> {
    fn drop(&mut self) {
        if !self.payload.is_empty() {
            self.conn.sender.append_payload(self.payload);
        }
    }
}

impl<L: ReceiveLevel> Connection<L> {
    /// Queues a whole data message without copying its payload into the
    /// connection: only the frame header is queued, and the returned
    /// [`Outgoing`] hands out the pending bytes and `payload` to write
    /// together (one `write_vectored`, no copy). A client masks `payload`
    /// in place, so its contents are scrambled afterwards; a server leaves
    /// it as it is.
    ///
    /// Text must be valid UTF-8, else [`Misuse::InvalidUtf8`](crate::Misuse::InvalidUtf8) and nothing
    /// is queued. With permessage-deflate in force, a payload worth
    /// compressing is compressed into the connection's buffer as
    /// [`send_binary`](Self::send_binary) would, and `Outgoing` has no
    /// payload left to write.
    ///
    /// ```
    /// use wsproto::{Config, Connection, MessageKind, Role};
    ///
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// let mut payload = b"big payload".to_vec();
    /// let mut wire = Vec::new(); // stands in for the socket
    /// let mut out = server.send_in_place(MessageKind::Binary, &mut payload)?;
    /// while out.remaining() > 0 {
    ///     // A vectored write that takes a little at a time.
    ///     let [header, rest] = out.chunks();
    ///     let chunk = if header.is_empty() { rest } else { header };
    ///     let n = chunk.len().min(5);
    ///     wire.extend_from_slice(&chunk[..n]);
    ///     out.advance(n);
    /// }
    /// drop(out);
    /// assert_eq!(wire, b"\x82\x0bbig payload");
    /// assert!(server.pending_transmit().is_empty());
    /// # Ok::<(), wsproto::SendError>(())
    /// ```
    pub fn send_in_place<'c, 'p>(
        &'c mut self,
        kind: MessageKind,
        payload: &'p mut [u8],
    ) -> Result<Outgoing<'c, 'p, L>, SendError> {
        self.check_can_send()?;
        if kind == MessageKind::Text {
            crate::utf8::validate(payload).map_err(|_| SendError::Misuse(Misuse::InvalidUtf8))?;
        }
        let extras = self.extras.as_deref_mut().map(|e| &mut e.send);
        let owed = self.sender.message_in_place(extras, kind, payload)?;
        let payload: &'p [u8] = if owed { payload } else { &[] };
        Ok(Outgoing {
            conn: self,
            payload,
        })
    }
}
