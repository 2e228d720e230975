//! A received compressed message between the frame decoder and the
//! application: inflated in bounded steps, its inflated length checked
//! against `max_message_len` as it grows, text validated as UTF-8 as it
//! appears.

use super::{DeflateParams, Inflated, Inflater};
use crate::error::ProtocolError;
use crate::event::MessageKind;
use crate::utf8::Utf8Validator;

/// Output the message level reserves at a time: a bomb grows the message
/// by this much past the limit at most before it is stopped.
const GROWTH: usize = 32 << 10;

/// The inflating half of permessage-deflate for one connection.
pub(crate) struct Inbound {
    inflater: Inflater,
    /// The compressed message in progress, if any.
    kind: Option<MessageKind>,
    utf8: Utf8Validator,
    /// Inflated bytes of the message so far.
    len: u64,
    max: u64,
    /// The last output filled up: more may follow before any new input.
    full: bool,
    /// Inflated bytes validated so far (the work meter).
    examined: u64,
}

impl Inbound {
    pub(crate) fn new(params: &DeflateParams, max_message_len: u64) -> Self {
        Inbound {
            inflater: Inflater::new(params),
            kind: None,
            utf8: Utf8Validator::default(),
            len: 0,
            max: max_message_len,
            full: false,
            examined: 0,
        }
    }

    pub(crate) fn examined(&self) -> u64 {
        self.examined
    }

    /// Whether inflated output is waiting to be handed out (the streaming
    /// level's buffer filled up).
    pub(crate) fn has_pending(&self) -> bool {
        self.kind.is_some() && self.full
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
        let step = self
            .inflater
            .inflate(out)
            .map_err(|_| ProtocolError::InvalidCompressedData(kind))?;
        self.full = step.full;
        self.check(&out[..step.written], step.done)?;
        Ok(step)
    }

    /// Inflates everything pushed onto the end of `message` (the message
    /// level), growing it by at most [`GROWTH`] past the limit. Returns
    /// whether the message is complete.
    pub(crate) fn inflate_onto(&mut self, message: &mut Vec<u8>) -> Result<bool, ProtocolError> {
        loop {
            let start = message.len();
            // One byte past the limit is enough to know it was passed.
            let room = (self.max - self.len.min(self.max)).saturating_add(1);
            let room = usize::try_from(room).unwrap_or(usize::MAX).min(GROWTH);
            if message.capacity() - start < room {
                // Double as a Vec would, but never far past the limit.
                let limit = usize::try_from(self.max.saturating_add(1)).unwrap_or(usize::MAX);
                let target = (message.capacity() * 2).clamp(start + room, limit.max(start + room));
                message.reserve_exact(target - start);
            }
            // Zero-filled for safe code; issue 8 measures what this costs.
            message.resize(start + room, 0);
            let step = self.inflate_into(&mut message[start..]);
            let written = step.as_ref().map_or(0, |s| s.written);
            message.truncate(start + written);
            let step = step?;
            if step.done {
                return Ok(true);
            }
            if !step.full {
                return Ok(false);
            }
        }
    }

    /// Counts and validates freshly inflated bytes.
    fn check(&mut self, bytes: &[u8], done: bool) -> Result<(), ProtocolError> {
        self.len += bytes.len() as u64;
        if self.len > self.max {
            return Err(ProtocolError::MessageTooLong {
                len: self.len,
                max: self.max,
            });
        }
        if self.kind == Some(MessageKind::Text) {
            self.examined += bytes.len() as u64;
            self.utf8
                .feed(bytes)
                .map_err(|_| ProtocolError::InvalidUtf8)?;
            if done {
                self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            }
        }
        if done {
            self.kind = None;
        }
        Ok(())
    }
}
