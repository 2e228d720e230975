//! Collects an HTTP head (request or response line plus header fields) from
//! chunks of any size, without rescanning: it remembers how far it searched
//! for the blank line that ends the head, so feeding a head one byte at a
//! time costs linear work.

use crate::meter::Meter;
use crate::prelude::*;

/// The head is not complete yet, is complete, or cannot fit the limit.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeadProgress {
    /// Every byte of the input was taken; the head continues.
    Partial,
    /// The head is complete; `consumed` bytes of the last input belonged to
    /// it and the rest follow it.
    Complete { consumed: usize },
    /// The blank line did not appear within the limit.
    TooLarge,
}

/// An accumulating buffer for one head.
#[derive(Debug)]
pub(crate) struct HeadReader {
    buf: Vec<u8>,
    /// Every line feed before this offset has been checked for a blank line
    /// after it.
    scanned: usize,
    max_len: usize,
    /// Bytes copied in, searched and parsed so far: the work meter the
    /// linear-work tests read (see `bytes_examined` on the handshakes).
    examined: Meter,
}

impl HeadReader {
    pub(crate) fn new(max_len: usize) -> Self {
        HeadReader {
            buf: Vec::new(),
            scanned: 0,
            max_len,
            examined: Meter::ZERO,
        }
    }

    /// Takes bytes from `input` up to the end of the head, never holding
    /// more than the limit.
    pub(crate) fn push(&mut self, input: &[u8]) -> HeadProgress {
        let before = self.buf.len();
        let room = self.max_len.saturating_sub(before);
        let take = input.len().min(room);
        self.buf.extend_from_slice(&input[..take]);
        // The copy, and the search from `scanned` to the end.
        self.examined += (take + self.buf.len() - self.scanned.min(self.buf.len())) as u64;
        if let Some(end) = find_head_end(&self.buf, self.scanned) {
            self.buf.truncate(end);
            // The caller parses the complete head once.
            self.examined += end as u64;
            return HeadProgress::Complete {
                consumed: end - before,
            };
        }
        // A line feed in the last two bytes may yet start a blank line.
        self.scanned = self.buf.len().saturating_sub(2);
        if self.buf.len() >= self.max_len {
            HeadProgress::TooLarge
        } else {
            HeadProgress::Partial
        }
    }

    /// Forgets the head, to read another one (after an interim response).
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.scanned = 0;
    }

    /// The limit this reader enforces.
    pub(crate) fn max_len(&self) -> usize {
        self.max_len
    }

    /// The complete head, after [`HeadProgress::Complete`].
    pub(crate) fn head(&self) -> &[u8] {
        &self.buf
    }

    /// Bytes copied, searched and parsed so far.
    #[cfg(feature = "test-meter")]
    pub(crate) fn examined(&self) -> u64 {
        self.examined.get()
    }
}

/// Room for the header fields of `head`: at most `max_headers`, and never
/// more than the head could hold (a field line takes at least 3 bytes), so
/// a huge configured limit does not turn into a huge allocation.
pub(crate) fn field_slots(head: &[u8], max_headers: usize) -> Vec<httparse::Header<'static>> {
    vec![httparse::EMPTY_HEADER; max_headers.min(head.len() / 3 + 1)]
}

/// The offset just past the blank line that ends a head (`\n\n` or
/// `\n\r\n`, so both CRLF and bare-LF heads end), searching from `from`.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(offset) = buf.get(at..)?.iter().position(|&b| b == b'\n') {
        let lf = at + offset;
        match buf.get(lf + 1..lf + 3) {
            Some([b'\n', _]) => return Some(lf + 2),
            Some([b'\r', b'\n']) => return Some(lf + 3),
            Some(_) => at = lf + 1,
            None if buf.get(lf + 1) == Some(&b'\n') => return Some(lf + 2),
            None => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

    #[test]
    fn whole_head_and_leftover() {
        let mut reader = HeadReader::new(1024);
        let mut input = HEAD.to_vec();
        input.extend_from_slice(b"\x81\x00");
        assert_eq!(
            reader.push(&input),
            HeadProgress::Complete {
                consumed: HEAD.len()
            }
        );
        assert_eq!(reader.head(), HEAD);
    }

    #[test]
    fn byte_at_a_time_finds_the_end_once() {
        let mut reader = HeadReader::new(1024);
        for (i, byte) in HEAD.iter().enumerate() {
            let progress = reader.push(core::slice::from_ref(byte));
            if i + 1 == HEAD.len() {
                assert_eq!(progress, HeadProgress::Complete { consumed: 1 });
            } else {
                assert_eq!(progress, HeadProgress::Partial, "at byte {i}");
            }
        }
    }

    #[test]
    fn bare_line_feeds_end_a_head() {
        let mut reader = HeadReader::new(1024);
        assert_eq!(
            reader.push(b"GET / HTTP/1.1\nHost: a\n\nrest"),
            HeadProgress::Complete { consumed: 24 }
        );
    }

    #[test]
    fn field_slots_are_bounded_by_the_head() {
        assert_eq!(field_slots(HEAD, usize::MAX).len(), HEAD.len() / 3 + 1);
        assert_eq!(field_slots(HEAD, 2).len(), 2);
    }

    #[test]
    fn limit_is_never_exceeded() {
        let mut reader = HeadReader::new(16);
        assert_eq!(reader.push(&[b'a'; 10]), HeadProgress::Partial);
        assert_eq!(reader.push(&[b'a'; 100]), HeadProgress::TooLarge);
        assert_eq!(reader.buf.len(), 16);
        // A head that ends exactly at the limit fits.
        let mut reader = HeadReader::new(HEAD.len());
        assert_eq!(
            reader.push(HEAD),
            HeadProgress::Complete {
                consumed: HEAD.len()
            }
        );
    }
}
