//! The compressor and decompressor of one connection, over flate2 with the
//! zlib-rs backend, framed as RFC 7692 section 7.2 asks: each message ends
//! with a sync flush whose `00 00 ff ff` is stripped by the sender and put
//! back by the receiver.

use crate::prelude::*;

use super::pool::CompressorKind;
use super::{DeflateConfig, DeflateParams, DeflatePool, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
use flate2::{Compress, Decompress, FlushCompress, FlushDecompress, Status};

/// The end of a sync flush: an empty stored block's length fields.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// zlib cannot make raw streams with a 256-byte window; with 512 bytes its
/// matches reach at most 250 back, which an 8-bit window decodes.
fn zlib_window_bits(bits: u8) -> u8 {
    bits.max(MIN_WINDOW_BITS + 1)
}

/// The backend failed: a bug, not a peer's fault (zlib fails a sync flush
/// only on a corrupt state).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CompressFailed;

/// Our side: compresses what we send.
pub(crate) struct Deflater {
    /// Made (or taken from the pool) on the first compressed message
    /// (250-380 KiB); without context takeover, let go after each message.
    compress: Option<Compress>,
    kind: CompressorKind,
    reset_after_message: bool,
    min_compress_len: usize,
    /// Where the state comes from and goes back to, if not the allocator.
    pool: Option<DeflatePool>,
}

impl Deflater {
    pub(crate) fn new(params: &DeflateParams, config: &DeflateConfig) -> Self {
        Deflater {
            compress: None,
            kind: CompressorKind {
                level: u32::from(config.level.min(9)),
                window_bits: zlib_window_bits(params.own_max_window_bits),
            },
            reset_after_message: params.own_no_context_takeover,
            min_compress_len: config.min_compress_len,
            pool: config.pool.clone(),
        }
    }

    /// Lets the state go: back to the pool, or freed.
    fn release(&mut self) {
        if let (Some(compress), Some(pool)) = (self.compress.take(), &self.pool) {
            pool.give_compressor(self.kind, compress);
        }
    }

    /// Whether a whole message of `len` bytes is worth compressing.
    pub(crate) fn wants(&self, len: usize) -> bool {
        len >= self.min_compress_len
    }

    /// Compresses `input` (all or part of a message) and appends the result
    /// to `out`. At the end of a message the sync flush's tail is stripped
    /// and, without context takeover, the window emptied.
    pub(crate) fn compress(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        end_of_message: bool,
    ) -> Result<(), CompressFailed> {
        let (kind, pool) = (self.kind, &self.pool);
        let compress = self.compress.get_or_insert_with(|| {
            pool.as_ref()
                .and_then(|pool| pool.take_compressor(kind))
                .unwrap_or_else(|| kind.make())
        });
        let (start, mut consumed) = (out.len(), 0);
        loop {
            // A sync flush is complete once all input is taken and the
            // output did not fill up.
            if out.capacity() - out.len() < 64 {
                out.reserve(64 + (input.len() - consumed) / 2);
            }
            let before = compress.total_in();
            compress
                .compress_vec(&input[consumed..], out, FlushCompress::Sync)
                .map_err(|_| CompressFailed)?;
            consumed += (compress.total_in() - before) as usize;
            if consumed == input.len() && out.len() < out.capacity() {
                break;
            }
        }
        if end_of_message {
            if out.len() == start {
                // zlib skips a flush with nothing new since the last one; the
                // message still needs the empty stored block's first byte,
                // which the receiver completes with the tail (section 7.2.3.6).
                out.push(0x00);
            } else if out[start..].ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            } else {
                return Err(CompressFailed);
            }
            if self.reset_after_message {
                // Let go, not reset: an idle connection then holds nothing
                // (as Node's ws does).
                self.release();
            }
        }
        Ok(())
    }
}

impl Drop for Deflater {
    fn drop(&mut self) {
        self.release();
    }
}

/// What one call to [`Inflater::inflate`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Inflated {
    /// Bytes written to the output (before the fault, if `invalid`).
    pub(crate) written: usize,
    /// The data was not valid DEFLATE: the written bytes came before the
    /// fault, so they are checked first (errors then come in stream order,
    /// whatever the split).
    pub(crate) invalid: bool,
    /// The message is complete: every byte pushed was inflated, and the
    /// output did not fill up.
    pub(crate) done: bool,
    /// The output filled up: call again before pushing more input.
    pub(crate) full: bool,
}

/// The peer's side: inflates what we receive, one message at a time.
pub(crate) struct Inflater {
    /// Allocated on the first compressed message received (46 KiB whatever
    /// the window: zlib-rs always allocates 32 KiB), freed after each
    /// message without context takeover.
    decompress: Option<Decompress>,
    window_bits: u8,
    reset_after_message: bool,
    /// Where the state comes from and goes back to, if not the allocator.
    pool: Option<DeflatePool>,
    /// Compressed bytes pushed and not yet inflated (`pending[at..]`).
    pending: Vec<u8>,
    at: usize,
    /// The message's last bytes are pushed; `tail_fed` bytes of [`TAIL`]
    /// have been inflated.
    fin: bool,
    tail_fed: usize,
    /// A block with BFINAL set ended the stream: the message's remaining
    /// bytes are skipped, and the next message starts a new stream.
    ended: bool,
}

impl Inflater {
    pub(crate) fn new(params: &DeflateParams, pool: Option<DeflatePool>) -> Self {
        Inflater {
            decompress: None,
            // Always the largest window, whatever the peer promised: zlib
            // only checks a distance against the window when it reaches
            // back past the current output buffer, so with a smaller window
            // a peer that breaks its promise could be caught or not
            // depending on how the input was split. zlib-rs allocates
            // 32 KiB either way.
            window_bits: MAX_WINDOW_BITS,
            reset_after_message: params.peer_no_context_takeover,
            pool,
            pending: Vec::new(),
            at: 0,
            fin: false,
            tail_fed: 0,
            ended: false,
        }
    }

    /// Whether pushed input is waiting (the last output filled up).
    pub(crate) fn has_pending(&self) -> bool {
        self.at < self.pending.len() || (self.fin && self.tail_fed < TAIL.len())
    }

    /// Appends compressed bytes, still masked, and returns them for
    /// unmasking in place. Call only once the previous input is inflated.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> &mut [u8] {
        if self.at == self.pending.len() {
            self.pending.clear();
            self.at = 0;
        }
        let start = self.pending.len();
        self.pending.extend_from_slice(bytes);
        &mut self.pending[start..]
    }

    /// Marks the bytes pushed so far as the end of the message.
    pub(crate) fn finish(&mut self) {
        self.fin = true;
    }

    /// Inflates pushed input into `out`.
    pub(crate) fn inflate(&mut self, out: &mut [u8]) -> Inflated {
        let (bits, pool) = (self.window_bits, &self.pool);
        let decompress = self.decompress.get_or_insert_with(|| {
            pool.as_ref()
                .and_then(DeflatePool::take_decompressor)
                .unwrap_or_else(|| Decompress::new_with_window_bits(false, bits))
        });
        let mut written = 0;
        while written < out.len() {
            if self.ended {
                // Bytes after the final block (such as the tail) are not
                // part of the stream.
                self.at = self.pending.len();
                if self.fin {
                    self.tail_fed = TAIL.len();
                }
            }
            let from_tail = self.at == self.pending.len();
            let input = if from_tail {
                &TAIL[if self.fin { self.tail_fed } else { TAIL.len() }..]
            } else {
                &self.pending[self.at..]
            };
            // Called even without input: zlib may hold the rest of a match
            // that did not fit in the last output.
            let (in_before, out_before) = (decompress.total_in(), decompress.total_out());
            let status = decompress.decompress(input, &mut out[written..], FlushDecompress::None);
            let used = (decompress.total_in() - in_before) as usize;
            let made = (decompress.total_out() - out_before) as usize;
            written += made;
            if from_tail {
                self.tail_fed += used;
            } else {
                self.at += used;
            }
            match status {
                Err(_) => {
                    return Inflated {
                        written,
                        invalid: true,
                        done: false,
                        full: false,
                    };
                }
                Ok(Status::StreamEnd) => self.ended = true,
                Ok(Status::Ok | Status::BufError) => {}
            }
            if used == 0 && made == 0 {
                break; // needs input it does not have yet
            }
        }
        let full = written == out.len() && !out.is_empty();
        let done = self.fin && !self.has_pending() && !full;
        if done {
            self.end_message();
        }
        Inflated {
            written,
            invalid: false,
            done,
            full,
        }
    }

    fn end_message(&mut self) {
        if self.reset_after_message {
            // Let go, not reset: the next message may be long in coming.
            self.release();
            self.pending = Vec::new();
        } else if self.ended {
            if let Some(decompress) = &mut self.decompress {
                decompress.reset(false);
            }
        }
        self.pending.clear();
        self.at = 0;
        self.fin = false;
        self.tail_fed = 0;
        self.ended = false;
    }

    /// Lets the state go: back to the pool, or freed.
    fn release(&mut self) {
        if let (Some(decompress), Some(pool)) = (self.decompress.take(), &self.pool) {
            pool.give_decompressor(decompress);
        }
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::tests::params;

    /// Lowercase letters from a fixed LCG: compressible, not repetitive.
    fn letters(len: usize) -> Vec<u8> {
        let mut state = 12345u32;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                b'a' + (state >> 16) as u8 % 26
            })
            .collect()
    }

    #[derive(Debug, PartialEq)]
    struct InvalidData;

    fn inflate_all(
        inflater: &mut Inflater,
        payload: &[u8],
        chunk: usize,
    ) -> Result<Vec<u8>, InvalidData> {
        inflater.push(payload);
        inflater.finish();
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            let step = inflater.inflate(&mut buf);
            out.extend_from_slice(&buf[..step.written]);
            if step.invalid {
                return Err(InvalidData);
            }
            if step.done {
                return Ok(out);
            }
            assert!(step.full, "stopped without finishing or filling up");
        }
    }

    #[test]
    fn rfc_7692_examples_inflate() {
        let p = params(15, 15, false, false);
        let mut inflater = Inflater::new(&p, None);
        // Section 7.2.3.1 and 7.2.3.2: "Hello" twice, the second a match
        // into the first (context takeover).
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(
            inflate_all(&mut inflater, &hello, 64),
            Ok(b"Hello".to_vec())
        );
        assert_eq!(
            inflate_all(&mut inflater, &[0xf2, 0x00, 0x11, 0x00, 0x00], 3),
            Ok(b"Hello".to_vec())
        );
        // Section 7.2.3.3: a stored block.
        let stored = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        assert_eq!(
            inflate_all(&mut inflater, &stored, 1),
            Ok(b"Hello".to_vec())
        );
        // Section 7.2.3.4: BFINAL set; the stream restarts afterwards.
        let last = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        assert_eq!(inflate_all(&mut inflater, &last, 64), Ok(b"Hello".to_vec()));
        assert_eq!(
            inflate_all(&mut inflater, &hello, 64),
            Ok(b"Hello".to_vec())
        );
        // Garbage is refused, whatever the output room.
        assert_eq!(
            inflate_all(&mut Inflater::new(&p, None), &[0xff, 0xff, 0xff], 64),
            Err(InvalidData)
        );
    }

    #[test]
    fn round_trip_with_and_without_context_takeover() {
        for nct in [false, true] {
            for bits in 8..=15 {
                let p = params(bits, bits, nct, nct);
                let mut deflater = Deflater::new(&p, &DeflateConfig::default());
                let mut inflater = Inflater::new(&p, None);
                let message = letters(2000);
                let mut sizes = Vec::new();
                for _ in 0..3 {
                    let mut wire = Vec::new();
                    deflater.compress(&message, &mut wire, true).unwrap();
                    sizes.push(wire.len());
                    assert_eq!(inflate_all(&mut inflater, &wire, 100), Ok(message.clone()));
                }
                // With context takeover, and a window that reaches back over
                // it (zlib keeps 262 bytes of lookahead), a repeated message
                // costs a few bytes.
                let reaches = (1usize << zlib_window_bits(bits)) - 262 >= message.len();
                assert_eq!(
                    sizes[1] < sizes[0] / 4,
                    !nct && reaches,
                    "bits {bits} nct {nct}: {sizes:?}"
                );
            }
        }
    }

    #[test]
    fn fragments_compress_as_one_stream() {
        let p = params(15, 15, false, false);
        let mut deflater = Deflater::new(&p, &DeflateConfig::default());
        let mut wire = Vec::new();
        for (i, part) in [&b"first part, "[..], b"", b"second part, first part"]
            .iter()
            .enumerate()
        {
            deflater.compress(part, &mut wire, i == 2).unwrap();
        }
        let mut inflater = Inflater::new(&p, None);
        assert_eq!(
            inflate_all(&mut inflater, &wire, 7),
            Ok(b"first part, second part, first part".to_vec())
        );
    }

    #[test]
    fn an_empty_end_after_a_flush_is_one_byte() {
        let p = params(15, 15, false, false);
        let mut deflater = Deflater::new(&p, &DeflateConfig::default());
        let mut inflater = Inflater::new(&p, None);
        // A message, then an empty one; a fragment, then an empty last one.
        let mut wire = Vec::new();
        deflater.compress(b"first", &mut wire, true).unwrap();
        assert_eq!(inflate_all(&mut inflater, &wire, 16), Ok(b"first".to_vec()));
        wire.clear();
        deflater.compress(b"", &mut wire, true).unwrap();
        assert_eq!(wire, [0x00]);
        assert_eq!(inflate_all(&mut inflater, &wire, 16), Ok(Vec::new()));
        wire.clear();
        deflater.compress(b"first", &mut wire, false).unwrap();
        deflater.compress(b"", &mut wire, true).unwrap();
        assert_eq!(inflate_all(&mut inflater, &wire, 16), Ok(b"first".to_vec()));
    }

    #[test]
    fn empty_message_is_one_byte() {
        let p = params(15, 15, false, false);
        let mut wire = Vec::new();
        Deflater::new(&p, &DeflateConfig::default())
            .compress(b"", &mut wire, true)
            .unwrap();
        assert_eq!(wire, [0x00]);
        assert_eq!(
            inflate_all(&mut Inflater::new(&p, None), &wire, 1),
            Ok(Vec::new())
        );
    }
}
