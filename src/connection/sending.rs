//! The sending side of [`Connection`]: data and control frames queued,
//! the bytes written out, and the backpressure that bounds them (the
//! owned and in-place sends are in `send_owned.rs` and `in_place.rs`, the
//! closing handshake's timer in `timers.rs`).

use super::{Connection, ReceiveLevel};
use crate::close::{CloseCode, CloseFrame};
use crate::error::{Misuse, SendError};
use crate::event::{MAX_CONTROL_PAYLOAD, MessageKind};
use crate::frame::OpCode;
use crate::prelude::*;

impl<L: ReceiveLevel> Connection<L> {
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
    /// valid UTF-8, else [`Misuse::InvalidUtf8`](crate::Misuse::InvalidUtf8) and nothing is queued.
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
    /// or the answer to a ping when [`Config::auto_pong`](crate::Config::auto_pong) is off.
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload)
    }

    pub(super) fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        self.check_can_send()?;
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::Misuse(Misuse::ControlPayloadTooLong(
                payload.len(),
            )));
        }
        let extras = self.extras.as_deref_mut().map(|e| &mut e.send);
        Ok(self.sender.control(extras, opcode, payload)?)
    }

    /// Queues our close frame (the public `close` and `close_at`, which
    /// also start its timer, are in `timers.rs`).
    pub(super) fn start_close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.check_open()?;
        if !code.is_sendable() {
            return Err(SendError::Misuse(Misuse::UnsendableCloseCode(code)));
        }
        let frame = CloseFrame::new(code, reason)
            .ok_or(SendError::Misuse(Misuse::CloseReasonTooLong(reason.len())))?;
        let extras = self.extras.as_deref_mut().map(|e| &mut e.send);
        self.sender.close(extras, &frame)?;
        self.lifecycle.on_close_sent();
        Ok(())
    }

    pub(super) fn check_open(&self) -> Result<(), SendError> {
        if !self.lifecycle.can_send() {
            Err(SendError::Closed)
        } else {
            Ok(())
        }
    }

    /// Open, and under the high-water mark.
    pub(super) fn check_can_send(&self) -> Result<(), SendError> {
        self.check_open()?;
        self.sender.check_room()
    }

    // ----- transmit -----

    /// Appends every byte waiting for the transport to `out` and returns how
    /// many there were. When `out` is empty and the connection holds one
    /// buffer, that buffer is moved instead of copied; a payload queued by
    /// reference ([`send_binary_owned`](Self::send_binary_owned)) is copied
    /// in, which is the copy the owned sends exist to avoid: drive those
    /// with [`pending_transmit_chunks`](Self::pending_transmit_chunks).
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) -> usize {
        self.sender.drain_into(out)
    }

    /// The bytes to write next, without a copy; report what was written
    /// with [`advance_transmit`](Self::advance_transmit) and call again
    /// until it is empty. Usually all that waits; it stops where a payload
    /// queued by reference starts or ends, and while a pong or keepalive
    /// ping is owed, at the end of the frame being written, then shows
    /// those control frames, so they overtake queued data without landing
    /// inside a frame.
    #[inline]
    pub fn pending_transmit(&self) -> &[u8] {
        self.sender.pending()
    }

    /// The next chunks to write, in order, for one vectored write (a
    /// header and the payload queued after it by reference, say): fills
    /// `out` from the start and returns how many chunks it filled (0:
    /// nothing waits). The first is [`pending_transmit`](Self::pending_transmit);
    /// none is empty. Report what the write took with
    /// [`advance_transmit`](Self::advance_transmit), which may cross
    /// chunks.
    ///
    /// ```
    /// use std::io::{IoSlice, Write};
    /// use wsproto::{Config, Connection, Role};
    ///
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// server.send_binary_owned(vec![7u8; 4096])?; // queued by reference
    /// let mut socket = Vec::new(); // stands in for the transport
    /// loop {
    ///     let mut chunks = [&[][..]; 8];
    ///     let n = server.pending_transmit_chunks(&mut chunks);
    ///     if n == 0 {
    ///         break;
    ///     }
    ///     let slices: Vec<IoSlice<'_>> = chunks[..n].iter().map(|c| IoSlice::new(c)).collect();
    ///     let written = socket.write_vectored(&slices)?;
    ///     server.advance_transmit(written);
    /// }
    /// assert_eq!(socket.len(), 4 + 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn pending_transmit_chunks<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        self.sender.pending_chunks(out)
    }

    /// Marks the next `n` bytes as written, in the order
    /// [`pending_transmit_chunks`](Self::pending_transmit_chunks) hands
    /// them out: the first `n` bytes of
    /// [`pending_transmit`](Self::pending_transmit), or more, across the
    /// chunks after it (clamped to what waits).
    #[inline]
    pub fn advance_transmit(&mut self, n: usize) {
        self.sender.advance(n);
    }

    /// Lets go of the buffer the outbox keeps for the next frames once
    /// everything is written (as large as the largest frame copied into it,
    /// up to 4 KiB and a header), so that the small-send path allocates
    /// nothing per message. For a driver about to wait on a quiet
    /// connection: with it, an idle connection holds no heap whatever it
    /// sent last; the next send allocates again. Does nothing while
    /// anything waits to be written.
    pub fn release_send_buffer(&mut self) {
        drop(self.take_send_buffer());
    }

    /// Like [`release_send_buffer`](Self::release_send_buffer), but hands
    /// the buffer over instead of freeing it: empty, with its capacity
    /// (at most 4 KiB and a header). A driver with many connections keeps a
    /// few such buffers and gives them to the connections that wake up
    /// ([`provide_send_buffer`](Self::provide_send_buffer)), so that neither
    /// an idle connection nor a busy one goes to the allocator for each
    /// message. `None` while anything waits to be written, or when the
    /// connection holds no buffer.
    pub fn take_send_buffer(&mut self) -> Option<Vec<u8>> {
        self.sender.take_buffer()
    }

    /// Gives the connection an empty buffer to queue its next frames in
    /// (its contents are cleared), when it holds none and nothing waits to
    /// be written; otherwise `buf` is dropped, as it is when its capacity
    /// is over what the connection keeps itself (4 KiB and a header).
    /// Taken back by [`take_send_buffer`](Self::take_send_buffer).
    pub fn provide_send_buffer(&mut self, buf: Vec<u8>) {
        self.sender.provide_buffer(buf);
    }

    // ----- backpressure -----

    /// How many bytes wait to be written to the transport, like the
    /// browser's `WebSocket.bufferedAmount`: everything queued and not yet
    /// reported written, payloads queued by reference
    /// ([`send_binary_owned`](Self::send_binary_owned)) included. It does
    /// not count a payload lent out by [`send_in_place`](Self::send_in_place).
    pub fn buffered_amount(&self) -> usize {
        self.sender.buffered()
    }

    /// Whether the driver should read more input: `false` while
    /// [`buffered_amount`](Self::buffered_amount) is over
    /// [`Config::send_high_water`](crate::Config::send_high_water). Reading on would only queue replies the
    /// transport cannot take (sends are refused with
    /// [`SendError::WouldBlock`] meanwhile); pausing reads passes the
    /// backpressure on to the peer through the transport's own flow
    /// control. Write out what is pending, then read again.
    pub fn wants_read(&self) -> bool {
        self.buffered_amount() <= self.sender.high_water()
    }
}
