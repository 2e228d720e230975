//! A received compressed message between the frame decoder and the
//! application: inflated in bounded steps, its inflated length checked
//! against `max_message_len` as it grows, text validated as UTF-8 as it
//! appears.

use crate::prelude::*;

use super::{DeflateParams, DeflatePool, Inflated, Inflater};
use crate::error::ProtocolError;
use crate::event::MessageKind;
use crate::meter::Meter;
use crate::utf8::Utf8Validator;

/// Room the message level makes at least when the message's buffer is full.
const MIN_ROOM: usize = 1024;

/// The inflating half of permessage-deflate for one connection.
pub(crate) struct Inbound {
    inflater: Inflater,
    /// The compressed message in progress, if any.
    kind: Option<MessageKind>,
    utf8: Utf8Validator,
    /// Inflated bytes of the message so far.
    len: u64,
    max: u64,
    /// What the message may hold for now (`Connection::set_receive_allowance`);
    /// `u64::MAX` unless set.
    allowance: u64,
    /// The last output filled up: more may follow before any new input.
    full: bool,
    /// Inflated bytes validated so far (the work meter).
    examined: Meter,
}

impl Inbound {
    pub(crate) fn new(
        params: &DeflateParams,
        max_message_len: u64,
        pool: Option<DeflatePool>,
    ) -> Self {
        Inbound {
            inflater: Inflater::new(params, pool),
            kind: None,
            utf8: Utf8Validator::default(),
            len: 0,
            max: max_message_len,
            allowance: u64::MAX,
            full: false,
            examined: Meter::ZERO,
        }
    }

    #[cfg(feature = "test-meter")]
    pub(crate) fn examined(&self) -> u64 {
        self.examined.get()
    }

    /// Whether inflated output is waiting to be handed out (the streaming
    /// level's buffer filled up).
    pub(crate) fn has_pending(&self) -> bool {
        self.kind.is_some() && self.full
    }

    /// Sets what the message may hold from now on.
    pub(crate) fn set_allowance(&mut self, allowance: u64) {
        self.allowance = allowance;
    }

    /// Inflated bytes the message may still grow by: to the limit, or to
    /// the allowance if that is lower.
    fn fits(&self) -> usize {
        let cap = self.max.min(self.allowance);
        usize::try_from(cap - self.len.min(cap)).unwrap_or(usize::MAX)
    }

    /// [`fits`](Self::fits) plus the one byte that would prove the message
    /// too long: as far as inflating ever goes, so both levels report the
    /// same length.
    fn allowed(&self) -> usize {
        self.fits().saturating_add(1)
    }

    /// The kind of the compressed message in progress.
    pub(crate) fn kind(&self) -> Option<MessageKind> {
        self.kind
    }

    /// Takes the (still masked) compressed bytes of a message of `kind`
    /// and returns them for unmasking in place; `fin` marks its end.
    pub(crate) fn push(&mut self, kind: MessageKind, bytes: &[u8], fin: bool) -> &mut [u8] {
        if self.kind.is_none() {
            self.kind = Some(kind);
            self.utf8 = Utf8Validator::default();
            self.len = 0;
        }
        if fin {
            self.inflater.finish();
        }
        self.inflater.push(bytes)
    }

    /// Inflates into `out` (the streaming level). `done` once the message
    /// is complete and valid.
    pub(crate) fn inflate_into(&mut self, out: &mut [u8]) -> Result<Inflated, ProtocolError> {
        let kind = self.kind.unwrap_or(MessageKind::Binary);
        let room = self.allowed().min(out.len());
        let step = self.inflater.inflate(&mut out[..room]);
        self.full = step.full;
        // What came out before a fault is checked first.
        self.check(&out[..step.written], step.done)?;
        if step.invalid {
            return Err(ProtocolError::InvalidCompressedData(kind));
        }
        Ok(step)
    }

    /// Inflates everything pushed into `message` (the message level),
    /// which holds this message only. Its length runs ahead of the data
    /// (zero-filled room, reused from call to call so nothing is zeroed
    /// twice); the data is the first `self.len` bytes, and the rest
    /// is cut off once the message is complete. The buffer doubles as a
    /// `Vec` would, but never past one byte over the limit. Returns whether
    /// the message is complete.
    pub(crate) fn inflate_onto(&mut self, message: &mut Vec<u8>) -> Result<bool, ProtocolError> {
        loop {
            // Within the limit plus one, so within memory.
            let filled = usize::try_from(self.len)
                .unwrap_or(usize::MAX)
                .min(message.len());
            let allowed = self.allowed();
            if message.len() - filled < MIN_ROOM.min(allowed) {
                // Double; but once the limit is within two doublings, go
                // straight to it, so the buffer is never copied for the
                // one byte that proves a message too long.
                let mut extra = filled.max(MIN_ROOM);
                if allowed / 4 <= extra {
                    extra = allowed;
                }
                let target = filled + extra.min(allowed);
                message.reserve_exact(target - message.len());
                // Zero-filled for safe code, once per byte of room.
                self.examined += (target - message.len()) as u64;
                message.resize(target, 0);
            }
            let step = self.inflate_into(&mut message[filled..])?;
            if step.done {
                message.truncate(filled + step.written);
                return Ok(true);
            }
            if !step.full {
                return Ok(false);
            }
        }
    }

    /// Counts and validates freshly inflated bytes, in stream order:
    /// invalid UTF-8 within the limit is reported before the byte that
    /// passes it.
    fn check(&mut self, bytes: &[u8], done: bool) -> Result<(), ProtocolError> {
        let fits = self.fits();
        let text = self.kind == Some(MessageKind::Text);
        if text {
            let within = &bytes[..bytes.len().min(fits)];
            self.examined += within.len() as u64;
            self.utf8
                .feed(within)
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        self.len += bytes.len() as u64;
        if self.len > self.max {
            return Err(ProtocolError::MessageTooLong {
                len: self.len,
                max: self.max,
            });
        }
        if self.len > self.allowance {
            return Err(ProtocolError::MessageOverAllowance {
                len: self.len,
                allowance: self.allowance,
            });
        }
        if text && done {
            self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        if done {
            self.kind = None;
        }
        Ok(())
    }
}
