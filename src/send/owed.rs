//! Control frames the connection owes on its own account (automatic pongs,
//! keepalive pings), in one ordered queue. The outbox consults it at each
//! frame boundary of its data: once due, every owed frame goes out before
//! the data resumes, oldest first.
//!
//! Pongs are coalesced where `docs/timers-backpressure.md` says: a pong
//! owed while others wait for a boundary replaces the one of them not yet
//! started, and over the high-water mark the newest pong replaces the
//! newest one not started, so a ping flood owes a bounded number of pongs
//! however slowly the transport drains (RFC 6455 section 5.5.3 allows
//! answering only the most recent ping).

use crate::prelude::*;
use alloc::collections::VecDeque;

use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask};

/// The longest control frame: a 6-byte header (2 + a client's 4-byte key)
/// and a 125-byte payload.
pub(crate) const MAX_CONTROL_FRAME: usize = 6 + crate::event::MAX_CONTROL_PAYLOAD;

/// A ping or pong (payload at most 125 bytes, checked by the caller),
/// encoded and masked with `mask` for a client: the bytes and their length.
pub(crate) fn encode_control(
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> ([u8; MAX_CONTROL_FRAME], usize) {
    let header = FrameHeader {
        fin: true,
        rsv: 0,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let mut head = [0u8; MAX_HEADER_LEN];
    let head_len = header.encode(&mut head);
    let mut bytes = [0u8; MAX_CONTROL_FRAME];
    bytes[..head_len].copy_from_slice(&head[..head_len]);
    let payload_len = payload.len().min(MAX_CONTROL_FRAME - head_len);
    let end = head_len + payload_len;
    bytes[head_len..end].copy_from_slice(&payload[..payload_len]);
    if let Some(key) = mask {
        apply_mask(&mut bytes[head_len..end], key, 0);
    }
    (bytes, end)
}

/// How an owed frame is to be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owing {
    /// An automatic pong (a keepalive ping is never replaced).
    pub(crate) pong: bool,
    /// Data is pending in the outbox: the frame waits for its next frame
    /// boundary.
    pub(crate) data_pending: bool,
    /// Over the high-water mark: only the newest pong is owed.
    pub(crate) coalesce: bool,
}

/// What is known of one owed frame besides its bytes.
#[derive(Clone, Copy, Debug)]
struct Frame {
    /// At most [`MAX_CONTROL_FRAME`] bytes.
    len: u8,
    pong: bool,
    /// Owed while data was pending: it waited for a frame boundary, and a
    /// newer pong owed while it waits replaces it if it has not started.
    waits: bool,
}

/// The owed frames, oldest first.
#[derive(Default)]
pub(crate) struct Owed {
    /// The frames, encoded back to back; `bytes[..sent]` is written.
    bytes: Vec<u8>,
    sent: usize,
    /// One entry per frame in `bytes`, in the same order.
    frames: VecDeque<Frame>,
}

impl Owed {
    /// Whether nothing owed is left to write.
    pub(crate) fn is_empty(&self) -> bool {
        self.sent == self.bytes.len()
    }

    /// Whether the transport has taken part of the owed frames: the rest
    /// goes out before anything else.
    pub(crate) fn started(&self) -> bool {
        self.sent > 0
    }

    /// The owed bytes not yet written, all frames together.
    pub(crate) fn rest(&self) -> &[u8] {
        &self.bytes[self.sent..]
    }

    /// Marks `n` bytes written (clamped to what is owed); returns how many.
    pub(crate) fn advance(&mut self, n: usize) -> usize {
        let n = n.min(self.bytes.len() - self.sent);
        self.sent += n;
        if self.is_empty() {
            self.bytes.clear();
            self.frames.clear();
            self.sent = 0;
        }
        n
    }

    /// Queues an encoded frame (at most [`MAX_CONTROL_FRAME`] bytes).
    pub(crate) fn push(&mut self, frame: &[u8], how: Owing) {
        debug_assert!(frame.len() <= MAX_CONTROL_FRAME);
        if how.coalesce && how.pong {
            if let Some(at) = self.newest_unstarted_pong() {
                self.remove(at);
            }
        }
        self.compact();
        let waiting = self.any_unwritten_waits();
        let meta = Frame {
            len: frame.len() as u8,
            pong: how.pong,
            waits: waiting || how.data_pending,
        };
        if waiting && how.pong {
            // Others wait for a boundary: a pong among them not started
            // gives way to this one, in its place.
            if let Some(at) = self.first_unstarted_waiting_pong() {
                let (start, end) = self.span(at);
                self.bytes.splice(start..end, frame.iter().copied());
                self.frames[at] = meta;
                return;
            }
        }
        self.bytes.extend_from_slice(frame);
        self.frames.push_back(meta);
    }

    /// Each frame's index, description and byte range, oldest first.
    fn spans(&self) -> impl Iterator<Item = (usize, Frame, usize, usize)> + '_ {
        let mut at = 0;
        self.frames.iter().enumerate().map(move |(i, frame)| {
            let start = at;
            at += usize::from(frame.len);
            (i, *frame, start, at)
        })
    }

    fn span(&self, index: usize) -> (usize, usize) {
        self.spans()
            .nth(index)
            .map_or((0, 0), |(_, _, start, end)| (start, end))
    }

    fn any_unwritten_waits(&self) -> bool {
        self.spans()
            .any(|(_, frame, _, end)| frame.waits && end > self.sent)
    }

    fn first_unstarted_waiting_pong(&self) -> Option<usize> {
        self.spans()
            .find(|(_, frame, start, _)| frame.pong && frame.waits && *start >= self.sent)
            .map(|(i, ..)| i)
    }

    fn newest_unstarted_pong(&self) -> Option<usize> {
        self.spans()
            .filter(|(_, frame, start, _)| frame.pong && *start >= self.sent)
            .last()
            .map(|(i, ..)| i)
    }

    fn remove(&mut self, index: usize) {
        let (start, end) = self.span(index);
        self.bytes.drain(start..end);
        self.frames.remove(index);
    }

    /// Drops the frames written whole once they are half the bytes, so
    /// compaction stays amortised O(1) per byte.
    fn compact(&mut self) {
        if self.sent == 0 || self.sent < self.bytes.len() / 2 {
            return;
        }
        let mut dropped = 0;
        while let Some(front) = self.frames.front() {
            let len = usize::from(front.len);
            if dropped + len > self.sent {
                break;
            }
            dropped += len;
            self.frames.pop_front();
        }
        self.bytes.drain(..dropped);
        self.sent -= dropped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pong(payload: &[u8]) -> Vec<u8> {
        let (bytes, len) = encode_control(OpCode::Pong, None, payload);
        bytes[..len].to_vec()
    }

    fn ping(payload: &[u8]) -> Vec<u8> {
        let (bytes, len) = encode_control(OpCode::Ping, None, payload);
        bytes[..len].to_vec()
    }

    const TAIL: Owing = Owing {
        pong: true,
        data_pending: false,
        coalesce: false,
    };
    const WAITING: Owing = Owing {
        pong: true,
        data_pending: true,
        coalesce: false,
    };
    const OVER: Owing = Owing {
        pong: true,
        data_pending: false,
        coalesce: true,
    };

    #[test]
    fn with_nothing_else_pending_every_pong_is_kept_in_order() {
        let mut owed = Owed::default();
        for p in [b"1", b"2", b"3"] {
            owed.push(&pong(p), TAIL);
        }
        assert_eq!(owed.rest(), [pong(b"1"), pong(b"2"), pong(b"3")].concat());
    }

    #[test]
    fn a_newer_pong_replaces_one_waiting_for_a_boundary() {
        let mut owed = Owed::default();
        owed.push(&pong(b"1"), WAITING);
        owed.push(&pong(b"22"), WAITING);
        assert_eq!(owed.rest(), pong(b"22"));
        // Still waiting, even once the data is gone: replaced again.
        owed.push(&pong(b"3"), TAIL);
        assert_eq!(owed.rest(), pong(b"3"));
    }

    #[test]
    fn a_started_pong_finishes_and_the_newest_follows() {
        let mut owed = Owed::default();
        owed.push(&pong(b"1"), WAITING);
        assert_eq!(owed.advance(1), 1);
        assert!(owed.started());
        owed.push(&pong(b"2"), WAITING);
        owed.push(&pong(b"3"), WAITING);
        assert_eq!(owed.rest(), [&pong(b"1")[1..], &pong(b"3")].concat());
        assert_eq!(owed.advance(100), 5);
        assert!(owed.is_empty() && !owed.started());
    }

    #[test]
    fn a_pong_queued_alone_is_not_replaced_by_one_that_waits() {
        // Pong 1 went into an empty outbox; data was queued behind it; pong
        // 2 must follow pong 1, not replace it.
        let mut owed = Owed::default();
        owed.push(&pong(b"1"), TAIL);
        owed.push(&pong(b"2"), WAITING);
        assert_eq!(owed.rest(), [pong(b"1"), pong(b"2")].concat());
    }

    #[test]
    fn over_the_mark_the_newest_pong_replaces_the_newest_unstarted() {
        let mut owed = Owed::default();
        for p in [b"0", b"1", b"2"] {
            owed.push(&pong(p), TAIL);
        }
        for p in [b"3", b"4", b"9"] {
            owed.push(&pong(p), OVER);
        }
        assert_eq!(owed.rest(), [pong(b"0"), pong(b"1"), pong(b"9")].concat());
        // A started pong is never taken back.
        owed.advance(4);
        owed.push(&pong(b"a"), OVER);
        owed.push(&pong(b"b"), OVER);
        assert_eq!(owed.rest(), [&pong(b"1")[1..], &pong(b"b")].concat());
    }

    #[test]
    fn a_keepalive_ping_is_never_replaced_and_keeps_its_place() {
        let mut owed = Owed::default();
        owed.push(&pong(b"1"), WAITING);
        let ping_how = Owing {
            pong: false,
            ..WAITING
        };
        owed.push(&ping(b""), ping_how);
        owed.push(&pong(b"2"), WAITING);
        assert_eq!(owed.rest(), [pong(b"2"), ping(b"")].concat());
        owed.push(&pong(b"3"), OVER);
        assert_eq!(owed.rest(), [ping(b""), pong(b"3")].concat());
    }

    #[test]
    fn written_frames_are_dropped_once_they_are_half_the_bytes() {
        let mut owed = Owed::default();
        // One byte of the newest frame always left: the queue never
        // empties, so only compaction keeps it small.
        owed.push(&pong(&[0]), TAIL);
        owed.advance(2);
        for i in 1..100u8 {
            owed.push(&pong(&[i]), TAIL);
            owed.advance(3);
            assert!(owed.bytes.len() <= 9, "{}", owed.bytes.len());
        }
        assert_eq!(owed.rest(), &pong(&[99])[2..]);
    }

    #[test]
    fn a_client_frame_is_masked() {
        let (bytes, len) = encode_control(OpCode::Pong, Some([1, 2, 3, 4]), b"\0\0\0\0\0");
        assert_eq!(
            &bytes[..len],
            b"\x8a\x85\x01\x02\x03\x04\x01\x02\x03\x04\x01"
        );
    }
}
