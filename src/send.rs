//! Outbound frames: encoding, client masking, the fragmented message being
//! sent, and the bytes waiting for the transport.
//!
//! Frames are written whole into the outbox, so an automatic pong or close
//! queued while the application streams a fragmented message always lands
//! between two frames, never inside one.

use crate::close::CloseFrame;
use crate::config::Role;
use crate::entropy::{EntropyError, EntropySource, OsEntropy};
use crate::error::SendError;
use crate::event::MessageKind;
use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask};
use crate::utf8::Utf8Validator;

#[cfg(feature = "deflate")]
use crate::deflate::Deflater;
#[cfg(feature = "deflate")]
use crate::recv::RSV1;

/// Where masking keys come from.
pub(crate) enum Entropy {
    /// The OS generator, boxed on first use: servers never draw a key,
    /// and its batch of random bytes should not widen every connection.
    Os(Option<Box<OsEntropy>>),
    Custom(Box<dyn EntropySource>),
}

impl Entropy {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        match self {
            Entropy::Os(source) => source
                .get_or_insert_with(|| Box::new(OsEntropy::new()))
                .fill(dest),
            Entropy::Custom(source) => source.fill(dest),
        }
    }
}

/// The outbound half of a connection.
pub(crate) struct Sender {
    role: Role,
    entropy: Entropy,
    /// Encoded frames; `outbox[written..]` still has to reach the transport.
    outbox: Vec<u8>,
    written: usize,
    /// The fragmented message being sent, with its UTF-8 state for text.
    fragmented: Option<Fragmented>,
    /// permessage-deflate, when negotiated (boxed: most connections go
    /// without, and should not carry its size).
    #[cfg(feature = "deflate")]
    deflater: Option<Box<Compressing>>,
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
    pub(crate) fn new(role: Role, entropy: Entropy) -> Self {
        Sender {
            role,
            entropy,
            outbox: Vec::new(),
            written: 0,
            fragmented: None,
            #[cfg(feature = "deflate")]
            deflater: None,
        }
    }

    /// Compresses data messages from now on (permessage-deflate).
    #[cfg(feature = "deflate")]
    pub(crate) fn enable_deflate(&mut self, deflater: Deflater) {
        self.deflater = Some(Box::new(Compressing {
            deflater,
            scratch: Vec::new(),
        }));
    }

    /// Queues a whole data message.
    pub(crate) fn message(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), SendError> {
        if self.fragmented.is_some() {
            return Err(SendError::MessageInProgress);
        }
        #[cfg(feature = "deflate")]
        if self
            .deflater
            .as_ref()
            .is_some_and(|c| c.deflater.wants(payload.len()))
        {
            return self.compressed_frame(true, data_opcode(kind), payload, true);
        }
        if self.role == Role::Server && payload.len() < 126 {
            // The common small echo: a two-byte header, nothing to mask.
            self.compact();
            self.outbox.reserve(2 + payload.len());
            let first = 0x80 | data_opcode(kind).bits();
            self.outbox.extend_from_slice(&[first, payload.len() as u8]);
            self.outbox.extend_from_slice(payload);
            return Ok(());
        }
        Ok(self.frame(true, 0, data_opcode(kind), payload)?)
    }

    /// Queues a whole data message whose payload the caller writes out
    /// itself, straight after the pending bytes: only the header goes into
    /// the outbox, and a client masks `payload` in place. Returns whether the
    /// payload is owed; `false` when it was compressed into the outbox.
    pub(crate) fn message_in_place(
        &mut self,
        kind: MessageKind,
        payload: &mut [u8],
    ) -> Result<bool, SendError> {
        if self.fragmented.is_some() {
            return Err(SendError::MessageInProgress);
        }
        #[cfg(feature = "deflate")]
        if self
            .deflater
            .as_ref()
            .is_some_and(|c| c.deflater.wants(payload.len()))
        {
            self.compressed_frame(true, data_opcode(kind), payload, true)?;
            return Ok(false);
        }
        let mask = self.next_mask()?;
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
        self.outbox.extend_from_slice(rest);
    }

    /// Compresses `payload` and queues it as one frame; RSV1 on the first
    /// frame of the message.
    #[cfg(feature = "deflate")]
    fn compressed_frame(
        &mut self,
        fin: bool,
        opcode: OpCode,
        payload: &[u8],
        first: bool,
    ) -> Result<(), SendError> {
        // The key first: once compressed, the message must go out, or the
        // peer's window would miss what ours holds.
        let mask = self.next_mask()?;
        let Some(compressing) = &mut self.deflater else {
            return Err(SendError::Compression);
        };
        let mut scratch = core::mem::take(&mut compressing.scratch);
        scratch.clear();
        let compressed = compressing.deflater.compress(payload, &mut scratch, fin);
        let rsv = if first { RSV1 } else { 0 };
        if compressed.is_ok() {
            self.push_frame(fin, rsv, opcode, mask, &scratch);
        }
        if let Some(compressing) = &mut self.deflater {
            compressing.scratch = scratch;
        }
        compressed.map_err(|_| SendError::Compression)
    }

    /// Queues one fragment of a message, starting the message if none is in
    /// progress. Text fragments are checked to form UTF-8 together.
    pub(crate) fn fragment(
        &mut self,
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
                    compressed: self.compresses(),
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
            self.compressed_frame(fin, opcode, payload, first)?;
            self.fragmented = (!fin).then_some(state);
            return Ok(());
        }
        self.frame(fin, 0, opcode, payload)?;
        self.fragmented = (!fin).then_some(state);
        Ok(())
    }

    /// Whether a new fragmented message is compressed: always, once
    /// permessage-deflate is on (its size is not known up front).
    fn compresses(&self) -> bool {
        #[cfg(feature = "deflate")]
        return self.deflater.is_some();
        #[cfg(not(feature = "deflate"))]
        false
    }

    /// Queues a ping or pong (payload length checked by the caller).
    pub(crate) fn control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), EntropyError> {
        self.frame(true, 0, opcode, payload)
    }

    /// Queues a close frame.
    pub(crate) fn close(&mut self, frame: &CloseFrame) -> Result<(), EntropyError> {
        let mut payload = [0u8; 125];
        let len = frame.encode_payload(&mut payload);
        self.frame(true, 0, OpCode::Close, &payload[..len])
    }

    fn frame(
        &mut self,
        fin: bool,
        rsv: u8,
        opcode: OpCode,
        payload: &[u8],
    ) -> Result<(), EntropyError> {
        let mask = self.next_mask()?;
        self.push_frame(fin, rsv, opcode, mask, payload);
        Ok(())
    }

    /// The masking key for the next frame: a client's from its entropy
    /// source, none for a server.
    fn next_mask(&mut self) -> Result<Option<[u8; 4]>, EntropyError> {
        match self.role {
            Role::Server => Ok(None),
            Role::Client => {
                let mut key = [0u8; 4];
                self.entropy.fill(&mut key)?;
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
        self.compact();
        self.outbox.reserve(header_len + room);
        self.outbox.extend_from_slice(&encoded[..header_len]);
    }

    /// Drops written bytes from the front once they are half the outbox, so
    /// compaction stays amortised O(1) per byte.
    fn compact(&mut self) {
        if self.written > 0 && self.written >= self.outbox.len() / 2 {
            self.outbox.drain(..self.written);
            self.written = 0;
        }
    }

    pub(crate) fn pending(&self) -> &[u8] {
        &self.outbox[self.written..]
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.written = (self.written + n).min(self.outbox.len());
        if self.written == self.outbox.len() {
            self.outbox.clear();
            self.written = 0;
        }
    }

    /// Moves every pending byte to the end of `out`.
    pub(crate) fn drain_into(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.pending().len();
        if out.is_empty() && self.written == 0 {
            // Hand over our buffer instead of copying it.
            core::mem::swap(out, &mut self.outbox);
        } else {
            out.extend_from_slice(self.pending());
            self.outbox.clear();
        }
        self.written = 0;
        n
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.pending().is_empty()
    }
}

fn data_opcode(kind: MessageKind) -> OpCode {
    match kind {
        MessageKind::Text => OpCode::Text,
        MessageKind::Binary => OpCode::Binary,
    }
}
