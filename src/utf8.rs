//! Incremental UTF-8 validation that fails fast across chunk boundaries.
//!
//! SIMD validation (`simdutf8`, with runtime CPU detection). Its `compat`
//! API, like `core::str::from_utf8`, tells apart "invalid" (`error_len()` is
//! `Some`) from "valid but cut short" (`None`), and it rejects a truncated
//! sequence as soon as its prefix can no longer start a valid character
//! (e.g. `E0 80`, `ED A0`, `F4 90`). We carry the 1-3 bytes of a cut
//! sequence to the next chunk, so an invalid message is refused as soon as
//! the byte that proves it invalid arrives.

/// The first byte of a byte sequence was not valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InvalidUtf8;

/// Validates a text message piece by piece.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Utf8Validator {
    /// Bytes of a sequence cut at a chunk boundary.
    partial: [u8; 4],
    partial_len: u8,
}

impl Utf8Validator {
    /// Checks the next piece of the text.
    pub(crate) fn feed(&mut self, mut chunk: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            let have = usize::from(self.partial_len);
            let want = sequence_len(self.partial[0]).ok_or(InvalidUtf8)?;
            let take = (want - have).min(chunk.len());
            self.partial[have..have + take].copy_from_slice(&chunk[..take]);
            let filled = have + take;
            match simdutf8::compat::from_utf8(&self.partial[..filled]) {
                Ok(_) => self.partial_len = 0,
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                Err(_) => {
                    // Still a valid prefix and the chunk is used up.
                    self.partial_len = filled as u8;
                    return Ok(());
                }
            }
            chunk = &chunk[take..];
        }
        // The bulk with `basic`, the faster of simdutf8's two APIs, up to
        // the start of a sequence the chunk may cut; only those last 1-3
        // bytes need `compat`'s "invalid or cut short" (measured on 1 MiB
        // of mixed text: `compat` on the whole chunk cost about 10% more).
        let (whole, tail) = chunk.split_at(cut_sequence_start(chunk));
        simdutf8::basic::from_utf8(whole).map_err(|_| InvalidUtf8)?;
        match simdutf8::compat::from_utf8(tail) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                let tail = &tail[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// Checks that the text does not end inside a sequence.
    pub(crate) fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.partial_len == 0;
        *self = Self::default();
        if complete { Ok(()) } else { Err(InvalidUtf8) }
    }
}

/// Checks a whole text at once.
pub(crate) fn validate(bytes: &[u8]) -> Result<(), InvalidUtf8> {
    simdutf8::basic::from_utf8(bytes)
        .map(drop)
        .map_err(|_| InvalidUtf8)
}

/// Where the last sequence of `chunk` starts if the chunk ends before it
/// does (a lead byte in the last 3 bytes, followed by fewer continuation
/// bytes than it needs), else `chunk.len()`. Everything before that point
/// is whole sequences if it is valid at all.
fn cut_sequence_start(chunk: &[u8]) -> usize {
    let len = chunk.len();
    for back in 1..=len.min(3) {
        let at = len - back;
        let byte = chunk[at];
        if byte & 0xC0 != 0x80 {
            // Not a continuation byte: this sequence's lead (or ASCII).
            return match sequence_len(byte) {
                Some(needed) if needed > back => at,
                _ => len,
            };
        }
    }
    len
}

/// The length of the sequence a lead byte starts, if it can start one.
fn sequence_len(lead: u8) -> Option<usize> {
    match lead {
        0xC2..=0xDF => Some(2),
        0xE0..=0xEF => Some(3),
        0xF0..=0xF4 => Some(4),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate_split(bytes: &[u8], cut: usize) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::default();
        v.feed(&bytes[..cut])?;
        v.feed(&bytes[cut..])?;
        v.finish()
    }

    #[test]
    fn agrees_with_std_at_every_split_point() {
        let samples: &[&[u8]] = &[
            "κόσμε".as_bytes(),
            "a€𝄞z".as_bytes(),
            b"\xf4\x8f\xbf\xbf",
            b"\xf4\x90\x80\x80",
            b"\xed\xa0\x80",
            b"\xe0\x80\xaf",
            b"\xc0\xaf",
            b"abc\xff",
            b"\xce\xba\xe1\xbd",
            b"",
        ];
        for bytes in samples {
            let expected = core::str::from_utf8(bytes).is_ok();
            for cut in 0..=bytes.len() {
                assert_eq!(
                    validate_split(bytes, cut).is_ok(),
                    expected,
                    "{bytes:x?} at {cut}"
                );
            }
        }
    }

    #[test]
    fn agrees_with_std_on_every_short_sequence_split_anywhere() {
        // Every 1-4 byte sequence of interesting bytes, behind ASCII so the
        // bulk is not empty, cut at every point: the two-part validation
        // (bulk, then the cut sequence) must agree with std.
        let bytes = [
            0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed,
            0xef, 0xf0, 0xf4, 0xf5, 0xff,
        ];
        let mut text = Vec::new();
        for &a in &bytes {
            for &b in &bytes {
                for &c in &bytes {
                    for tail in [&[a][..], &[a, b], &[a, b, c], &[a, b, c, 0x80]] {
                        text.clear();
                        text.extend_from_slice(b"ok");
                        text.extend_from_slice(tail);
                        let expected = core::str::from_utf8(&text).is_ok();
                        for cut in 0..=text.len() {
                            assert_eq!(
                                validate_split(&text, cut).is_ok(),
                                expected,
                                "{text:x?} at {cut}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn byte_at_a_time_fails_on_the_proving_byte() {
        // U+D800 encoded: ED A0 80. ED alone is fine; A0 proves it invalid.
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(b"ab\xed"), Ok(()));
        assert_eq!(v.feed(b"\xa0"), Err(InvalidUtf8));
        // A codepoint above U+10FFFF: F4 90 is already invalid.
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(b"\xf4"), Ok(()));
        assert_eq!(v.feed(b"\x90"), Err(InvalidUtf8));
    }

    #[test]
    fn a_cut_sequence_is_only_an_error_at_the_end_of_the_message() {
        let mut v = Utf8Validator::default();
        assert_eq!(v.feed(b"\xf0\x9d"), Ok(()));
        assert_eq!(v.feed(b"\x84"), Ok(()));
        assert_eq!(v.finish(), Err(InvalidUtf8));
        // finish resets, ready for the next message.
        assert_eq!(v.feed(b"ok"), Ok(()));
        assert_eq!(v.finish(), Ok(()));
    }
}
