//! Outbound frames: encoding, client masking, the fragmented message being
//! sent, and the bytes waiting for the transport.
//!
//! Frames are written whole into the outbox, so a close queued while the
//! application streams a fragmented message always lands between two
//! frames, never inside one. The control frames the connection owes on its
//! own account (pongs, keepalive pings) go ahead of queued data, at the
//! next frame boundary (see [`urgent`]).

use crate::prelude::*;

mod urgent;

use crate::close::CloseFrame;
use crate::config::Role;
#[cfg(feature = "std")]
use crate::entropy::OsEntropy;
use crate::entropy::{EntropyError, EntropySource};
use crate::error::SendError;
use crate::event::MessageKind;
use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, ParsedHeader, apply_mask};
use crate::utf8::Utf8Validator;
use urgent::Encoded;
pub(crate) use urgent::Urgent;

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
    /// Owed control frames waiting for a frame boundary (boxed again: a
    /// connection whose transport keeps up never needs them).
    pub(crate) urgent: Option<Box<Urgent>>,
}

impl SendExtras {
    /// A client's extras: its key source.
    pub(crate) fn with_keys(keys: Keys) -> Self {
        SendExtras {
            keys: Some(keys),
            #[cfg(feature = "deflate")]
            compressing: None,
            urgent: None,
        }
    }

    /// Whether it holds nothing a connection needs to keep (a server's,
    /// without permessage-deflate or owed frames).
    pub(crate) fn is_idle(&self) -> bool {
        #[cfg(feature = "deflate")]
        let compressing = self.compressing.is_some();
        #[cfg(not(feature = "deflate"))]
        let compressing = false;
        self.keys.is_none() && !compressing && self.urgent.as_deref().is_none_or(Urgent::is_empty)
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
    /// Encoded frames; `outbox[written..]` still has to reach the transport.
    outbox: Vec<u8>,
    written: usize,
    /// A frame boundary in the outbox: the end of the frame holding
    /// `written` once [`find_boundary`](Self::find_boundary) has walked it
    /// forward, an earlier one before that. Owed control frames go out
    /// there.
    boundary: usize,
    /// How many bytes at the end of the outbox are control frames the
    /// connection owes (pongs, keepalive pings) queued in a row: while
    /// nothing else is pending, more of them join the tail in order.
    /// Saturates at 4 GiB (an owed frame then waits for a boundary
    /// instead), which keeps the connection small.
    owed_tail: u32,
    /// The length of an automatic pong at the very end of the outbox (0:
    /// none): over the high-water mark, a newer pong replaces it.
    tail_pong: u8,
    /// [`Config::send_high_water`](crate::Config::send_high_water).
    high_water: usize,
    /// The fragmented message being sent, with its UTF-8 state for text.
    fragmented: Option<Fragmented>,
}

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
            outbox: Vec::new(),
            written: 0,
            boundary: 0,
            owed_tail: 0,
            tail_pong: 0,
            high_water,
            fragmented: None,
        }
    }

    /// Refuses a send while more than the high-water mark waits.
    pub(crate) fn check_room(&self, urgent: Option<&Urgent>) -> Result<(), SendError> {
        let buffered = self.buffered(urgent);
        if buffered > self.high_water {
            return Err(SendError::WouldBlock {
                buffered,
                high_water: self.high_water,
            });
        }
        Ok(())
    }

    /// Bytes waiting for the transport: the outbox and the owed frames.
    pub(crate) fn buffered(&self, urgent: Option<&Urgent>) -> usize {
        self.outbox.len() - self.written + urgent.map_or(0, Urgent::len)
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
            return Err(SendError::MessageInProgress);
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
            self.prepare_push();
            self.outbox.reserve(6 + payload.len());
            match mask {
                None => self.outbox.extend_from_slice(&[first, len]),
                Some([a, b, c, d]) => {
                    self.outbox
                        .extend_from_slice(&[first, 0x80 | len, a, b, c, d])
                }
            }
            let start = self.outbox.len();
            self.outbox.extend_from_slice(payload);
            if let Some(key) = mask {
                apply_mask(&mut self.outbox[start..], key, 0);
            }
            return Ok(());
        }
        Ok(self.frame(extras, true, data_opcode(kind), payload)?)
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
            return Err(SendError::MessageInProgress);
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
    /// so the frame is whole in the outbox. Once its header was written
    /// (the outbox had nothing left), the header is gone with the bytes
    /// written before it, so the frame's end is recorded here instead of
    /// read from a header.
    pub(crate) fn append_payload(&mut self, rest: &[u8]) {
        let header_gone = self.outbox_idle();
        self.tail_pong = 0;
        self.owed_tail = 0;
        self.outbox.extend_from_slice(rest);
        if header_gone {
            self.boundary = self.outbox.len();
        }
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
            Some(_) => return Err(SendError::MessageInProgress),
        };
        if kind == MessageKind::Text {
            state
                .utf8
                .feed(payload)
                .map_err(|_| SendError::InvalidUtf8)?;
            if fin {
                state.utf8.finish().map_err(|_| SendError::InvalidUtf8)?;
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
        let start = self.outbox.len();
        self.outbox.extend_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(&mut self.outbox[start..], key, 0);
        }
    }

    /// Appends a frame header, with room for `room` more bytes after it.
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
        self.prepare_push();
        self.outbox.reserve(header_len + room);
        self.outbox.extend_from_slice(&encoded[..header_len]);
    }

    /// Before a frame is appended: no pong is at the tail any more, and
    /// written bytes are dropped from the front once they are half the
    /// outbox, so compaction stays amortised O(1) per byte.
    fn prepare_push(&mut self) {
        let owed_waiting = self.owed_tail > 0 && !self.outbox_idle();
        self.tail_pong = 0;
        self.owed_tail = 0;
        if self.written > 0 && self.written >= self.outbox.len() / 2 {
            self.find_boundary();
            self.outbox.drain(..self.written);
            self.boundary -= self.written;
            self.written = 0;
        }
        if owed_waiting {
            // Owed frames end the outbox: frames owed later wait for them
            // (pongs keep their order), still ahead of what comes now.
            self.boundary = self.boundary.max(self.outbox.len());
        }
    }

    /// Walks `boundary` forward, header by header, to the end of the frame
    /// holding `written`. Each frame is walked once, so this is amortised
    /// O(1) per frame.
    fn find_boundary(&mut self) {
        while self.boundary < self.written {
            let rest = &self.outbox[self.boundary..];
            match FrameHeader::parse(rest) {
                Ok(ParsedHeader::Complete { header, len }) => {
                    self.boundary += len + header.payload_len as usize;
                }
                // Our own frames always parse; were one not to, owed frames
                // wait for the whole outbox rather than risk a frame's
                // middle.
                _ => self.boundary = self.outbox.len(),
            }
        }
    }

    /// Queues a control frame the connection owes on its own account (an
    /// automatic pong, a keepalive ping) in the outbox, when nothing but
    /// such frames waits there: it goes out next, after them.
    pub(crate) fn owed_in_outbox(
        &mut self,
        extras: Lent<'_>,
        opcode: OpCode,
        payload: &[u8],
    ) -> Result<(), EntropyError> {
        let owed = self.owed_tail;
        // Measured on what is pending: queuing may compact the outbox.
        let before = self.outbox.len() - self.written;
        self.frame(extras, true, opcode, payload)?;
        let len = self.outbox.len() - self.written - before;
        self.owed_tail = owed.saturating_add(u32::try_from(len).unwrap_or(u32::MAX));
        if opcode == OpCode::Pong {
            // At most 131 bytes: a control frame.
            self.tail_pong = len as u8;
        }
        Ok(())
    }

    /// Whether the outbox has nothing left to write.
    pub(crate) fn outbox_idle(&self) -> bool {
        self.written == self.outbox.len()
    }

    /// Whether everything pending in the outbox is owed control frames.
    pub(crate) fn only_owed_pending(&self) -> bool {
        self.outbox.len() - self.written <= self.owed_tail as usize
    }

    /// Queues an owed control frame to go out at the next frame boundary,
    /// ahead of the data queued after it; a pong replaces an older one not
    /// yet started.
    pub(crate) fn owed_urgently(
        &mut self,
        extras: &mut SendExtras,
        opcode: OpCode,
        payload: &[u8],
    ) -> Result<(), EntropyError> {
        let mask = self.next_mask(Some(&mut *extras))?;
        self.find_boundary();
        extras
            .urgent
            .get_or_insert_with(Box::default)
            .push(Encoded::new(opcode, mask, payload));
        Ok(())
    }

    /// Takes back an automatic pong at the tail of the outbox that has not
    /// started going out, so the newer one replaces it.
    pub(crate) fn retract_tail_pong(&mut self) {
        let tail = usize::from(self.tail_pong);
        if tail > 0 && self.written + tail <= self.outbox.len() {
            self.outbox.truncate(self.outbox.len() - tail);
            self.owed_tail = self.owed_tail.saturating_sub(u32::from(self.tail_pong));
        }
        self.tail_pong = 0;
    }

    /// What to write next: the oldest owed frame once the outbox is at a
    /// frame boundary, else the outbox (up to the boundary while frames are
    /// owed).
    pub(crate) fn pending<'a>(&'a self, urgent: Option<&'a Urgent>) -> &'a [u8] {
        match urgent {
            Some(urgent) if !urgent.is_empty() => {
                if self.urgent_due(urgent) {
                    urgent.front()
                } else {
                    &self.outbox[self.written..self.boundary.min(self.outbox.len())]
                }
            }
            _ => &self.outbox[self.written..],
        }
    }

    /// Marks the first `n` bytes of [`pending`](Self::pending) written
    /// (clamped to it).
    pub(crate) fn advance(&mut self, urgent: Option<&mut Urgent>, n: usize) {
        match urgent {
            Some(urgent) if !urgent.is_empty() => {
                if self.urgent_due(urgent) {
                    return urgent.advance(n);
                }
                self.written += n.min(self.boundary - self.written);
            }
            _ => self.written = (self.written + n).min(self.outbox.len()),
        }
        if self.written == self.outbox.len() {
            self.clear_outbox();
        }
    }

    /// Moves every pending byte to the end of `out`, owed frames in their
    /// places.
    pub(crate) fn drain_into(
        &mut self,
        mut urgent: Option<&mut Urgent>,
        out: &mut Vec<u8>,
    ) -> usize {
        if urgent.as_deref().is_some_and(|urgent| !urgent.is_empty()) {
            let mut total = 0;
            loop {
                let pending = self.pending(urgent.as_deref());
                if pending.is_empty() {
                    return total;
                }
                out.extend_from_slice(pending);
                let n = pending.len();
                total += n;
                self.advance(urgent.as_deref_mut(), n);
            }
        }
        let n = self.outbox.len() - self.written;
        if out.is_empty() && self.written == 0 {
            // Hand over our buffer instead of copying it.
            core::mem::swap(out, &mut self.outbox);
        } else {
            out.extend_from_slice(&self.outbox[self.written..]);
        }
        self.clear_outbox();
        n
    }

    /// Forgets everything not yet written (the transport is to be dropped).
    pub(crate) fn discard(&mut self) {
        self.outbox = Vec::new();
        self.clear_outbox();
    }

    /// Empties the outbox (keeping its capacity) and the state that
    /// describes its contents.
    fn clear_outbox(&mut self) {
        self.outbox.clear();
        self.written = 0;
        self.boundary = 0;
        self.owed_tail = 0;
        self.tail_pong = 0;
    }

    /// Whether the oldest owed frame goes next: it has started, or the
    /// outbox is at the boundary where it waits.
    fn urgent_due(&self, urgent: &Urgent) -> bool {
        urgent.started() || self.written >= self.boundary
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
