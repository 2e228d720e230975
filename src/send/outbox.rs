//! The bytes waiting for the transport: one queue of frames, in the order
//! they were queued, and the control frames the connection owes beside it.
//!
//! - Frames are coalesced into one buffer: headers, and payloads copied
//!   in. A large owned payload is not copied: it waits in the queue by
//!   reference (`Bytes`), right after its header, and goes out as a chunk
//!   of its own.
//! - Each frame's end is recorded when the next frame is queued behind it
//!   (the last one ends where the queue does), so frame boundaries are
//!   known without reading our own headers back.
//! - Owed control frames ([`Owed`]) go out at the first frame boundary: at
//!   once while the writer is between frames, else as soon as the frame
//!   being written ends. A chunk shown while they wait stops there.
//!
//! A connection whose transport keeps up holds one frame at a time in the
//! buffer and nothing else. The rest (frame ends, payloads held by
//! reference, owed frames) lives in a box made when a frame is queued
//! behind an unwritten one, a payload is held by reference or a control
//! frame is owed, and let go once everything is written.

use crate::prelude::*;
use alloc::collections::VecDeque;
use bytes::Bytes;

use super::owed::{Owed, Owing};
use crate::frame::{MAX_HEADER_LEN, apply_mask};

/// Once everything is written the buffer keeps its capacity for the next
/// frames only up to this many bytes: a large send does not leave a large
/// buffer behind.
pub(crate) const KEEP_CAPACITY: usize = super::BY_REFERENCE_MIN + MAX_HEADER_LEN;

/// `Queue::frame_start` for a frame whose start went out before the
/// outbox last emptied (a `send_in_place` frame whose header was written,
/// the rest of its payload queued afterwards): the writer is inside it.
const STARTED_EARLIER: usize = usize::MAX;

/// Frames waiting for the transport.
#[derive(Default)]
pub(crate) struct Outbox {
    /// Frame bytes in order, except payloads held by reference.
    buf: Vec<u8>,
    /// `buf[..written]` has been written.
    written: usize,
    /// Everything else; `None` while the buffer holds at most one frame
    /// (starting at `buf[0]`) and nothing is owed.
    queue: Option<Box<Queue>>,
}

/// What a busy outbox needs besides its buffer.
#[derive(Default)]
struct Queue {
    /// Positions in the data: bytes queued since the data was last all
    /// written, payloads held by reference included. `sent` of them have
    /// been written, `total` queued.
    sent: usize,
    total: usize,
    /// Where the frame being written starts: the writer is between frames
    /// when `sent` is there (or at `total`). See [`STARTED_EARLIER`].
    frame_start: usize,
    /// Where each frame ends but the last, in order; only ends past `sent`.
    ends: VecDeque<usize>,
    /// Payloads held by reference, each right after its header in `buf`.
    payloads: Held,
    owed: Owed,
}

/// The payloads held by reference, oldest first: the first inline (one
/// allocation fewer for the common case of one at a time).
#[derive(Default)]
struct Held {
    first: Option<HeldPayload>,
    rest: VecDeque<HeldPayload>,
}

impl Held {
    fn get(&self, index: usize) -> Option<&HeldPayload> {
        match index {
            0 => self.first.as_ref(),
            _ => self.rest.get(index - 1),
        }
    }

    fn push_back(&mut self, held: HeldPayload) {
        if self.first.is_none() {
            self.first = Some(held);
        } else {
            self.rest.push_back(held);
        }
    }

    fn pop_front(&mut self) {
        self.first = self.rest.pop_front();
    }
}

/// A payload held by reference.
struct HeldPayload {
    /// Its first byte's position.
    start: usize,
    bytes: Bytes,
}

/// One contiguous piece of what waits, as [`Cursor::next`] finds it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Owed,
    Buf,
    Held,
}

/// A reading position over the outbox: where the writer is, and whether
/// the owed frames are still ahead of it.
#[derive(Clone, Copy)]
struct Cursor {
    written: usize,
    sent: usize,
    /// Index of the next held payload and of the next frame end.
    held: usize,
    end: usize,
    frame_start: usize,
    owed_ahead: bool,
}

impl Cursor {
    fn new(queue: &Queue, written: usize) -> Self {
        Cursor {
            written,
            sent: queue.sent,
            held: 0,
            end: 0,
            frame_start: queue.frame_start,
            owed_ahead: !queue.owed.is_empty(),
        }
    }

    /// The next contiguous bytes to write, and moves past them.
    fn next<'a>(&mut self, buf: &'a [u8], queue: &'a Queue) -> Option<(Kind, &'a [u8])> {
        let between_frames = self.sent == self.frame_start || self.sent == queue.total;
        if self.owed_ahead && (between_frames || queue.owed.started()) {
            self.owed_ahead = false;
            return Some((Kind::Owed, queue.owed.rest()));
        }
        if self.sent == queue.total {
            return None;
        }
        let held = queue.payloads.get(self.held);
        let (kind, mut chunk) = match held {
            Some(held) if held.start <= self.sent => {
                (Kind::Held, &held.bytes[self.sent - held.start..])
            }
            _ => {
                let len = held.map_or(buf.len() - self.written, |held| held.start - self.sent);
                (Kind::Buf, &buf[self.written..self.written + len])
            }
        };
        if self.owed_ahead {
            // Owed frames wait for the end of this frame: stop there.
            let end = queue.ends.get(self.end).copied().unwrap_or(queue.total);
            chunk = &chunk[..chunk.len().min(end - self.sent)];
        }
        self.sent += chunk.len();
        match kind {
            Kind::Buf => self.written += chunk.len(),
            _ => {
                if held.is_some_and(|held| self.sent == held.start + held.bytes.len()) {
                    self.held += 1;
                }
            }
        }
        while let Some(&end) = queue.ends.get(self.end) {
            if end > self.sent {
                break;
            }
            self.frame_start = end;
            self.end += 1;
        }
        Some((kind, chunk))
    }
}

impl Outbox {
    /// Bytes waiting: data and owed frames.
    pub(crate) fn buffered(&self) -> usize {
        match &self.queue {
            None => self.buf.len() - self.written,
            Some(queue) => queue.total - queue.sent + queue.owed.rest().len(),
        }
    }

    /// Whether data (anything but owed frames) waits.
    pub(crate) fn data_pending(&self) -> bool {
        match &self.queue {
            None => self.written < self.buf.len(),
            Some(queue) => queue.sent < queue.total,
        }
    }

    /// The box, made on first use: the buffer holds one frame at most, from
    /// its start.
    fn queue(&mut self) -> &mut Queue {
        let (written, len) = (self.written, self.buf.len());
        self.queue.get_or_insert_with(|| {
            Box::new(Queue {
                sent: written,
                total: len,
                ..Queue::default()
            })
        })
    }

    // ----- queuing -----

    /// Starts a new frame of at least `room` bytes in the buffer: records
    /// where the frame before it ends, and drops written bytes from the
    /// front once they are half the buffer (amortised O(1) per byte).
    #[inline]
    pub(crate) fn begin_frame(&mut self, room: usize) {
        if self.queue.is_none() && self.buf.is_empty() {
            // Nothing waits (the common case of a transport that keeps up):
            // no frame before it to record, nothing written to drop.
            self.buf.reserve(room);
            return;
        }
        self.begin_behind(room);
    }

    /// [`begin_frame`](Self::begin_frame) behind frames still waiting.
    fn begin_behind(&mut self, room: usize) {
        if self.data_pending() {
            let queue = self.queue();
            let end = queue.total;
            queue.ends.push_back(end);
        }
        if self.written > 0 && self.written >= self.buf.len() / 2 {
            self.buf.drain(..self.written);
            self.written = 0;
        }
        self.buf.reserve(room);
    }

    /// Appends bytes of the frame being queued.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if let Some(queue) = self.queue.as_deref_mut() {
            queue.total += bytes.len();
        }
    }

    /// Appends a frame's header and unmasked payload, counted at once.
    pub(crate) fn push_frame(&mut self, header: &[u8], payload: &[u8]) {
        self.buf.extend_from_slice(header);
        self.buf.extend_from_slice(payload);
        if let Some(queue) = self.queue.as_deref_mut() {
            queue.total += header.len() + payload.len();
        }
    }

    /// Appends payload bytes of the frame being queued, masked with `key`
    /// for a client.
    pub(crate) fn push_masked(&mut self, payload: &[u8], key: Option<[u8; 4]>) {
        let start = self.buf.len();
        self.push(payload);
        if let Some(key) = key {
            apply_mask(&mut self.buf[start..], key, 0);
        }
    }

    /// Appends the payload of the frame being queued by reference: it is
    /// written from its own memory, after the header pushed before it.
    pub(crate) fn push_held(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        let queue = self.queue();
        let start = queue.total;
        queue.total += bytes.len();
        queue.payloads.push_back(HeldPayload { start, bytes });
    }

    /// Appends the rest of the last frame queued, whose header may have
    /// been written already (`send_in_place`'s payload, where the transport
    /// did not take it all).
    pub(crate) fn finish_last_frame(&mut self, rest: &[u8]) {
        if rest.is_empty() {
            return;
        }
        if !self.data_pending() {
            // Its start went out with everything before it: the writer is
            // inside this frame until `rest` is written.
            self.queue().frame_start = STARTED_EARLIER;
        }
        self.push(rest);
    }

    /// Queues an owed control frame (encoded): it goes out at the next
    /// frame boundary, after the owed frames already waiting.
    pub(crate) fn owe(&mut self, frame: &[u8], pong: bool, coalesce: bool) {
        let data_pending = self.data_pending();
        self.queue().owed.push(
            frame,
            Owing {
                pong,
                data_pending,
                coalesce,
            },
        );
    }

    // ----- transmitting -----

    /// The next contiguous bytes to write.
    #[inline]
    pub(crate) fn pending(&self) -> &[u8] {
        match &self.queue {
            None => &self.buf[self.written..],
            Some(queue) => self.first_queued(queue),
        }
    }

    fn first_queued<'a>(&'a self, queue: &'a Queue) -> &'a [u8] {
        Cursor::new(queue, self.written)
            .next(&self.buf, queue)
            .map_or(&[], |(_, chunk)| chunk)
    }

    /// Fills `out` with the next chunks to write, in order; returns how
    /// many it filled.
    #[inline]
    pub(crate) fn pending_chunks<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        let Some(queue) = &self.queue else {
            let pending = &self.buf[self.written..];
            if pending.is_empty() || out.is_empty() {
                return 0;
            }
            out[0] = pending;
            return 1;
        };
        self.queued_chunks(queue, out)
    }

    fn queued_chunks<'a>(&'a self, queue: &'a Queue, out: &mut [&'a [u8]]) -> usize {
        let mut cursor = Cursor::new(queue, self.written);
        let mut filled = 0;
        while filled < out.len() {
            match cursor.next(&self.buf, queue) {
                Some((_, chunk)) if !chunk.is_empty() => {
                    out[filled] = chunk;
                    filled += 1;
                }
                // No piece is ever empty; were one to be, stop rather than
                // spin.
                Some(_) | None => break,
            }
        }
        filled
    }

    /// Marks `n` bytes written, in the order [`pending_chunks`]
    /// hands them out (clamped to what waits).
    ///
    /// [`pending_chunks`]: Self::pending_chunks
    #[inline]
    pub(crate) fn advance(&mut self, n: usize) {
        if self.queue.is_none() {
            self.written = (self.written + n).min(self.buf.len());
            if self.written == self.buf.len() {
                self.clear_buf();
            }
            return;
        }
        self.advance_queued(n);
    }

    fn advance_queued(&mut self, mut n: usize) {
        let Some(queue) = self.queue.as_deref_mut() else {
            return;
        };
        if n >= queue.total - queue.sent + queue.owed.rest().len() {
            // All of it (a vectored write that took every chunk).
            self.queue = None;
            self.clear_buf();
            return;
        }
        while n > 0 {
            let Some((kind, len)) = Cursor::new(queue, self.written)
                .next(&self.buf, queue)
                .map(|(kind, chunk)| (kind, chunk.len()))
            else {
                break;
            };
            if len == 0 {
                break;
            }
            let step = n.min(len);
            n -= step;
            match kind {
                Kind::Owed => {
                    queue.owed.advance(step);
                }
                Kind::Buf | Kind::Held => {
                    queue.sent += step;
                    if kind == Kind::Buf {
                        self.written += step;
                    } else if queue
                        .payloads
                        .get(0)
                        .is_some_and(|held| queue.sent == held.start + held.bytes.len())
                    {
                        queue.payloads.pop_front();
                    }
                    while queue.ends.front().is_some_and(|&end| end <= queue.sent) {
                        queue.frame_start = queue.ends.pop_front().unwrap_or(queue.sent);
                    }
                }
            }
            if step < len {
                break;
            }
        }
        self.tidy();
    }

    /// Moves everything waiting to the end of `out`, owed frames in their
    /// places; returns how many bytes. With nothing held by reference or
    /// owed and `out` empty, the buffer is handed over instead of copied.
    pub(crate) fn drain_into(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.buffered();
        let Some(queue) = &self.queue else {
            if out.is_empty() && self.written == 0 {
                core::mem::swap(out, &mut self.buf);
            } else {
                out.extend_from_slice(&self.buf[self.written..]);
            }
            self.clear_buf();
            return n;
        };
        out.reserve(n);
        let mut cursor = Cursor::new(queue, self.written);
        while let Some((_, chunk)) = cursor.next(&self.buf, queue) {
            out.extend_from_slice(chunk);
        }
        self.queue = None;
        self.clear_buf();
        n
    }

    /// Forgets everything not yet written and lets go of the memory (the
    /// transport is to be dropped).
    pub(crate) fn discard(&mut self) {
        *self = Outbox::default();
    }

    /// After a write: once the data is all written the buffer is emptied
    /// (and let go if large), and once nothing is owed either the box goes.
    fn tidy(&mut self) {
        let Some(queue) = self.queue.as_deref_mut() else {
            return;
        };
        if queue.sent < queue.total {
            return;
        }
        queue.sent = 0;
        queue.total = 0;
        queue.frame_start = 0;
        queue.ends.clear();
        if queue.owed.is_empty() {
            self.queue = None;
        }
        self.clear_buf();
    }

    /// Takes the buffer kept for the next frames when it holds nothing
    /// (everything written, nothing owed, no box) and has capacity.
    pub(crate) fn take_buf(&mut self) -> Option<Vec<u8>> {
        if self.queue.is_none() && self.buf.is_empty() && self.buf.capacity() > 0 {
            self.written = 0;
            return Some(core::mem::take(&mut self.buf));
        }
        None
    }

    /// Keeps `buf` (emptied) for the next frames when the outbox is idle
    /// and has no buffer, and `buf` is not larger than it would keep
    /// itself; otherwise drops it.
    pub(crate) fn provide_buf(&mut self, mut buf: Vec<u8>) {
        let idle = self.queue.is_none() && self.buf.capacity() == 0;
        if idle && buf.capacity() <= KEEP_CAPACITY {
            buf.clear();
            self.buf = buf;
            self.written = 0;
        }
    }

    /// Empties the buffer, keeping a small one for the next frames.
    fn clear_buf(&mut self) {
        self.written = 0;
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
    }
}

#[cfg(test)]
mod tests;
