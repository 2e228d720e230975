//! Outbound frames: encoding, client masking, the fragmented message being
//! sent, and the bytes waiting for the transport.
//!
//! Frames are queued whole, so a close queued while the application
//! streams a fragmented message always lands between two frames, never
//! inside one. A large owned payload is queued by reference rather than
//! copied. The control frames the connection owes on its own account
//! (pongs, keepalive pings) go ahead of queued data, at the next frame
//! boundary. The queue is [`outbox`]; this file encodes and masks.

use crate::prelude::*;

mod outbox;
mod owed;

use crate::close::CloseFrame;
use crate::config::Role;
#[cfg(feature = "std")]
use crate::entropy::OsEntropy;
use crate::entropy::{EntropyError, EntropySource};
use crate::error::{Misuse, SendError};
use crate::event::MessageKind;
use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask};
use crate::utf8::Utf8Validator;
use bytes::Bytes;
use outbox::Outbox;

#[cfg(feature = "deflate")]
use crate::deflate::Deflater;
#[cfg(feature = "deflate")]
use crate::recv::RSV1;

/// Where a client's masking keys come from.
pub(crate) enum Keys {
    #[cfg(feature = "std")]
    Os(OsEntropy),
    Custom(Box<dyn EntropySource>),
    /// No source (`Connection::new` without `std`): a client's sends fail
    /// with `SendError::Entropy`.
    #[cfg(not(feature = "std"))]
    Missing,
}

impl Keys {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        match self {
            #[cfg(feature = "std")]
            Keys::Os(source) => source.fill(dest),
            Keys::Custom(source) => source.fill(dest),
            #[cfg(not(feature = "std"))]
            Keys::Missing => Err(EntropyError::new(None)),
        }
    }
}

/// What the sender needs besides its outbox, for clients and
/// permessage-deflate only: the connection keeps it in the extras it boxes
/// on first use, and lends it to each call that may need it.
#[derive(Default)]
pub(crate) struct SendExtras {
    /// A client's key source (a server never masks).
    keys: Option<Keys>,
    /// permessage-deflate, when negotiated (boxed again: the extras of a
    /// connection without it should not carry its size).
    #[cfg(feature = "deflate")]
    compressing: Option<Box<Compressing>>,
}

impl SendExtras {
    /// A client's extras: its key source.
    pub(crate) fn with_keys(keys: Keys) -> Self {
        SendExtras {
            keys: Some(keys),
            #[cfg(feature = "deflate")]
            compressing: None,
        }
    }

    /// Whether it holds nothing a connection needs to keep (a server's,
    /// without permessage-deflate).
    pub(crate) fn is_idle(&self) -> bool {
        #[cfg(feature = "deflate")]
        let compressing = self.compressing.is_some();
        #[cfg(not(feature = "deflate"))]
        let compressing = false;
        self.keys.is_none() && !compressing
    }

    /// Compresses data messages from now on (permessage-deflate).
    #[cfg(feature = "deflate")]
    pub(crate) fn enable_deflate(&mut self, deflater: Deflater) {
        self.compressing = Some(Box::new(Compressing {
            deflater,
            scratch: Vec::new(),
        }));
    }

    /// Whether a data message of `len` bytes is to be compressed.
    #[cfg(feature = "deflate")]
    fn compresses(extras: Option<&SendExtras>, len: usize) -> bool {
        extras
            .and_then(|e| e.compressing.as_ref())
            .is_some_and(|c| c.deflater.wants(len))
    }
}

/// The extras lent to a call, if the connection has any.
pub(crate) type Lent<'a> = Option<&'a mut SendExtras>;

/// The outbound half of a connection.
pub(crate) struct Sender {
    role: Role,
    /// The frames and owed control frames waiting for the transport.
    outbox: Outbox,
    /// [`Config::send_high_water`](crate::Config::send_high_water).
    high_water: usize,
    /// The fragmented message being sent, with its UTF-8 state for text.
    fragmented: Option<Fragmented>,
}

/// From this many bytes an owned payload is queued by reference (a client's
/// masked in place when it is the buffer's only owner) rather than copied
/// into the outbox. Below it the copy costs less than a chunk of its own
/// (measured: a held payload costs ~55 ns a frame, the box it waits in and
/// the bookkeeping, which copying 2 KiB into a warm outbox undercuts), and
/// small frames stay coalesced into one write. The outbox keeps a buffer
/// this large (plus a header) once drained, so a copied payload never
/// makes it let go of its memory and allocate again.
pub(crate) const BY_REFERENCE_MIN: usize = 4096;

/// The compressing side of permessage-deflate.
#[cfg(feature = "deflate")]
struct Compressing {
    deflater: Deflater,
    /// Compressed payload on its way into the outbox, kept between messages.
    scratch: Vec<u8>,
}

/// The fragmented message being sent.
#[derive(Clone, Copy)]
struct Fragmented {
    kind: MessageKind,
    utf8: Utf8Validator,
    #[cfg_attr(not(feature = "deflate"), allow(dead_code))]
    compressed: bool,
}

impl Sender {
    pub(crate) fn new(role: Role, high_water: usize) -> Self {
        Sender {
            role,
            outbox: Outbox::default(),
            high_water,
            fragmented: None,
        }
    }

    /// Refuses a send while more than the high-water mark waits. Inlined:
    /// every send asks, and the call cost more than the check.
    #[inline]
    pub(crate) fn check_room(&self) -> Result<(), SendError> {
        let buffered = self.buffered();
        if buffered > self.high_water {
            return Err(SendError::WouldBlock {
                buffered,
                high_water: self.high_water,
            });
        }
        Ok(())
    }

    /// Bytes waiting for the transport: frames, payloads held by reference
    /// and owed frames.
    pub(crate) fn buffered(&self) -> usize {
        self.outbox.buffered()
    }

    pub(crate) fn high_water(&self) -> usize {
        self.high_water
    }

    /// Queues a whole data message.
    pub(crate) fn message(
        &mut self,
        extras: Lent<'_>,
        kind: MessageKind,
        payload: &[u8],
    ) -> Result<(), SendError> {
        if self.fragmented.is_some() {
            return Err(SendError::Misuse(Misuse::MessageInProgress));
        }
        #[cfg(feature = "deflate")]
        if SendExtras::compresses(extras.as_deref(), payload.len()) {
            return self.compressed_frame(extras, true, data_opcode(kind), payload, true);
        }
        if payload.len() < 126 {
            // The common small message: a 2-byte header (6 with a client's
            // key) written directly, without the general encoder.
            let mask = self.next_mask(extras)?;
            let (first, len) = (0x80 | data_opcode(kind).bits(), payload.len() as u8);
            self.outbox.begin_frame(6 + payload.len());
            match mask {
                None => self.outbox.push_frame(&[first, len], payload),
                Some([a, b, c, d]) => {
                    self.outbox.push(&[first, 0x80 | len, a, b, c, d]);
                    self.outbox.push_masked(payload, mask);
                }
            }
            return Ok(());
        }
        Ok(self.frame(extras, true, data_opcode(kind), payload)?)
    }

    /// Queues a whole data message whose payload the caller hands over (at
    /// least [`BY_REFERENCE_MIN`] bytes; the caller sends smaller ones with
    /// [`message`](Self::message)): queued by reference (a client masks it
    /// in place when it is the buffer's only owner, else masks a copy), or
    /// compressed as [`message`](Self::message) would.
    pub(crate) fn message_owned(
        &mut self,
        extras: Lent<'_>,
        kind: MessageKind,
        payload: Bytes,
    ) -> Result<(), SendError> {
        if self.fragmented.is_some() {
            return Err(SendError::Misuse(Misuse::MessageInProgress));
        }
        #[cfg(feature = "deflate")]
        if SendExtras::compresses(extras.as_deref(), payload.len()) {
            return self.compressed_frame(extras, true, data_opcode(kind), &payload, true);
        }
        let mask = self.next_mask(extras)?;
        let payload = match mask {
            None => payload,
            Some(key) => match payload.try_into_mut() {
                Ok(mut unique) => {
                    apply_mask(&mut unique, key, 0);
                    unique.freeze()
                }
                Err(shared) => {
                    // Others see this buffer: mask a copy, the only one.
                    self.push_frame(true, 0, data_opcode(kind), mask, &shared);
                    return Ok(());
                }
            },
        };
        self.push_header(true, 0, data_opcode(kind), mask, payload.len(), 0);
        self.outbox.push_held(payload);
        Ok(())
    }

    /// Queues a whole data message whose payload the caller writes out
    /// itself, straight after the pending bytes: only the header goes into
    /// the outbox, and a client masks `payload` in place. Returns whether the
    /// payload is owed; `false` when it was compressed into the outbox.
    pub(crate) fn message_in_place(
        &mut self,
        extras: Lent<'_>,
        kind: MessageKind,
        payload: &mut [u8],
    ) -> Result<bool, SendError> {
        if self.fragmented.is_some() {
            return Err(SendError::Misuse(Misuse::MessageInProgress));
        }
        #[cfg(feature = "deflate")]
        if SendExtras::compresses(extras.as_deref(), payload.len()) {
            self.compressed_frame(extras, true, data_opcode(kind), payload, true)?;
            return Ok(false);
        }
        let mask = self.next_mask(extras)?;
        // No room reserved for the payload: it does not come here unless
        // the transport leaves some of it.
        self.push_header(true, 0, data_opcode(kind), mask, payload.len(), 0);
        if let Some(key) = mask {
            apply_mask(payload, key, 0);
        }
        Ok(true)
    }

    /// Appends the part of an in-place payload the transport did not take,
    /// so the frame is whole in the outbox.
    pub(crate) fn append_payload(&mut self, rest: &[u8]) {
        self.outbox.finish_last_frame(rest);
    }

    /// Compresses `payload` and queues it as one frame; RSV1 on the first
    /// frame of the message.
    #[cfg(feature = "deflate")]
    fn compressed_frame(
        &mut self,
        mut extras: Lent<'_>,
        fin: bool,
        opcode: OpCode,
        payload: &[u8],
        first: bool,
    ) -> Result<(), SendError> {
        // The key first: once compressed, the message must go out, or the
        // peer's window would miss what ours holds.
        let mask = self.next_mask(extras.as_deref_mut())?;
        let Some(compressing) = extras.and_then(|e| e.compressing.as_mut()) else {
            return Err(SendError::Compression);
        };
        let scratch = &mut compressing.scratch;
        scratch.clear();
        let compressed = compressing.deflater.compress(payload, scratch, fin);
        let rsv = if first { RSV1 } else { 0 };
        if compressed.is_ok() {
            self.push_frame(fin, rsv, opcode, mask, scratch);
        }
        compressed.map_err(|_| SendError::Compression)
    }

    /// Queues one fragment of a message, starting the message if none is in
    /// progress. Text fragments are checked to form UTF-8 together.
    pub(crate) fn fragment(
        &mut self,
        extras: Lent<'_>,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), SendError> {
        let (opcode, mut state) = match self.fragmented {
            None => (
                data_opcode(kind),
                Fragmented {
                    kind,
                    utf8: Utf8Validator::default(),
                    compressed: compresses_fragments(extras.as_deref()),
                },
            ),
            Some(state) if state.kind == kind => (OpCode::Continuation, state),
            Some(_) => return Err(SendError::Misuse(Misuse::MessageInProgress)),
        };
        if kind == MessageKind::Text {
            state
                .utf8
                .feed(payload)
                .map_err(|_| SendError::Misuse(Misuse::InvalidUtf8))?;
            if fin {
                state
                    .utf8
                    .finish()
                    .map_err(|_| SendError::Misuse(Misuse::InvalidUtf8))?;
            }
        }
        #[cfg(feature = "deflate")]
        if state.compressed {
            let first = opcode != OpCode::Continuation;
            self.compressed_frame(extras, fin, opcode, payload, first)?;
            self.fragmented = (!fin).then_some(state);
            return Ok(());
        }
        self.frame(extras, fin, opcode, payload)?;
        self.fragmented = (!fin).then_some(state);
        Ok(())
    }

    /// Queues a ping or pong (payload length checked by the caller).
    pub(crate) fn control(
        &mut self,
        extras: Lent<'_>,
        opcode: OpCode,
        payload: &[u8],
    ) -> Result<(), EntropyError> {
        self.frame(extras, true, opcode, payload)
    }

    /// Queues a close frame.
    pub(crate) fn close(
        &mut self,
        extras: Lent<'_>,
        frame: &CloseFrame,
    ) -> Result<(), EntropyError> {
        let mut payload = [0u8; 125];
        let len = frame.encode_payload(&mut payload);
        self.frame(extras, true, OpCode::Close, &payload[..len])
    }

    /// Queues an uncompressed frame.
    fn frame(
        &mut self,
        extras: Lent<'_>,
        fin: bool,
        opcode: OpCode,
        payload: &[u8],
    ) -> Result<(), EntropyError> {
        let mask = self.next_mask(extras)?;
        self.push_frame(fin, 0, opcode, mask, payload);
        Ok(())
    }

    /// The masking key for the next frame: a client's from its key source
    /// (which the connection gives every client), none for a server.
    fn next_mask(&mut self, extras: Lent<'_>) -> Result<Option<[u8; 4]>, EntropyError> {
        match self.role {
            Role::Server => Ok(None),
            Role::Client => {
                let keys = extras
                    .and_then(|e| e.keys.as_mut())
                    .ok_or(EntropyError::new(None))?;
                let mut key = [0u8; 4];
                keys.fill(&mut key)?;
                Ok(Some(key))
            }
        }
    }

    fn push_frame(
        &mut self,
        fin: bool,
        rsv: u8,
        opcode: OpCode,
        mask: Option<[u8; 4]>,
        payload: &[u8],
    ) {
        self.push_header(fin, rsv, opcode, mask, payload.len(), payload.len());
        self.outbox.push_masked(payload, mask);
    }

    /// Starts a frame with its header, with room for `room` more bytes
    /// after it.
    fn push_header(
        &mut self,
        fin: bool,
        rsv: u8,
        opcode: OpCode,
        mask: Option<[u8; 4]>,
        payload_len: usize,
        room: usize,
    ) {
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len: payload_len as u64,
        };
        let mut encoded = [0u8; MAX_HEADER_LEN];
        let header_len = header.encode(&mut encoded);
        self.outbox.begin_frame(header_len + room);
        self.outbox.push(&encoded[..header_len]);
    }

    /// Queues a control frame the connection owes on its own account (an
    /// automatic pong, a keepalive ping): it goes out at the next frame
    /// boundary, after those owed before it. Over the high-water mark
    /// (`coalesce`), a pong replaces the newest one not started.
    pub(crate) fn owe(
        &mut self,
        extras: Lent<'_>,
        opcode: OpCode,
        payload: &[u8],
        coalesce: bool,
    ) -> Result<(), EntropyError> {
        let mask = self.next_mask(extras)?;
        let (frame, len) = owed::encode_control(opcode, mask, payload);
        self.outbox
            .owe(&frame[..len], opcode == OpCode::Pong, coalesce);
        Ok(())
    }

    /// The next contiguous bytes to write.
    #[inline]
    pub(crate) fn pending(&self) -> &[u8] {
        self.outbox.pending()
    }

    /// The next chunks to write, in order.
    #[inline]
    pub(crate) fn pending_chunks<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        self.outbox.pending_chunks(out)
    }

    /// Marks the first `n` bytes of what waits written (clamped to it).
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        self.outbox.advance(n);
    }

    /// Moves every pending byte to the end of `out`, owed frames in their
    /// places.
    pub(crate) fn drain_into(&mut self, out: &mut Vec<u8>) -> usize {
        self.outbox.drain_into(out)
    }

    /// Forgets everything not yet written (the transport is to be dropped).
    pub(crate) fn discard(&mut self) {
        self.outbox.discard();
    }

    /// Takes the outbox's empty buffer (see `Outbox::take_buf`).
    pub(crate) fn take_buffer(&mut self) -> Option<Vec<u8>> {
        self.outbox.take_buf()
    }

    /// Gives the outbox a buffer (see `Outbox::provide_buf`).
    pub(crate) fn provide_buffer(&mut self, buf: Vec<u8>) {
        self.outbox.provide_buf(buf);
    }
}

/// Whether a new fragmented message is compressed: always, once
/// permessage-deflate is on (its size is not known up front).
fn compresses_fragments(extras: Option<&SendExtras>) -> bool {
    #[cfg(feature = "deflate")]
    return extras.is_some_and(|e| e.compressing.is_some());
    #[cfg(not(feature = "deflate"))]
    {
        let _ = extras;
        false
    }
}

fn data_opcode(kind: MessageKind) -> OpCode {
    match kind {
        MessageKind::Text => OpCode::Text,
        MessageKind::Binary => OpCode::Binary,
    }
}

#[cfg(test)]
mod tests;
