//! Spare buffers, a few per thread, for connections that wake up.
//!
//! An idle connection holds no buffer (the driver lets its read buffer and
//! its connection's send buffer go before it waits), so a connection that
//! wakes for one message, answers it and waits again would take a 16 KiB
//! read buffer and a send buffer from the allocator and give both back
//! every time: on a server with many such connections that was about a
//! sixth of the user-space instructions per echo (callgrind, 100
//! connections echoing 20-byte messages), and glibc serves 16 KiB outside
//! its per-thread cache. Here they go back to a few slots kept by the
//! thread instead, and the next connection that wakes on it takes them
//! from there.
//!
//! Only a read buffer nobody else holds is kept (a message handed out
//! shares the memory it was read into; while the application holds one,
//! its buffer is not reused), and at most [`KEEP`] of each kind per
//! thread: a runtime thread polls one connection at a time, and a
//! connection gives its buffers back as soon as it waits with nothing left
//! to decode, so a few cover any number of connections. A read buffer
//! grown past [`KEEP_READ_CAPACITY`] for a large frame is freed instead.
//! A thread's buffers are freed when it ends.

use std::cell::Cell;

use bytes::BytesMut;

/// Buffers of each kind a thread keeps at most.
const KEEP: usize = 2;
/// The largest read buffer kept: one grown for a large frame (the core
/// reserves room for a frame from its header) is freed, not kept for
/// connections that need a read's worth.
const KEEP_READ_CAPACITY: usize = 64 << 10;

thread_local! {
    // Slots rather than a `Vec` behind a `RefCell`: taking and giving back
    // is a few moves, on every wake-up of every connection.
    static READ: [Cell<Option<BytesMut>>; KEEP] = const { [const { Cell::new(None) }; KEEP] };
    static SEND: [Cell<Option<Vec<u8>>>; KEEP] = const { [const { Cell::new(None) }; KEEP] };
}

/// The first spare in `slots`, if any.
fn take_from<T>(slots: &[Cell<Option<T>>; KEEP]) -> Option<T> {
    slots.iter().find_map(Cell::take)
}

/// Puts `value` in the first free slot; dropped when there is none.
fn give_to<T>(slots: &[Cell<Option<T>>; KEEP], value: T) {
    for slot in slots {
        let held = slot.take();
        if held.is_none() {
            slot.set(Some(value));
            return;
        }
        slot.set(held);
    }
}

/// Buffers for a connection waking from idle: an empty read buffer with
/// at least `capacity` bytes of room (a spare one when the thread has one,
/// else a new one), and a spare send buffer when the thread has one.
pub(crate) fn take(capacity: usize) -> (BytesMut, Option<Vec<u8>>) {
    let read = READ.try_with(take_from).ok().flatten();
    let send = SEND.try_with(take_from).ok().flatten();
    let read = match read {
        Some(buf) if buf.capacity() >= capacity => buf,
        _ => BytesMut::with_capacity(capacity),
    };
    (read, send)
}

/// Buffers from a connection about to wait: each is kept for another
/// connection when the thread has room for it; the read buffer only when
/// it is empty and nothing else holds its memory. The rest are freed.
pub(crate) fn give(mut read: BytesMut, capacity: usize, send: Option<Vec<u8>>) {
    // `try_reclaim` is true only when this handle is the allocation's only
    // owner (no message still points into it) and the whole allocation
    // offers `capacity` bytes again; it moves the handle back to the
    // allocation's start, so its capacity is then the allocation's.
    if read.is_empty() && read.try_reclaim(capacity) && read.capacity() <= KEEP_READ_CAPACITY {
        let _ = READ.try_with(|slots| give_to(slots, read));
    }
    if let Some(send) = send {
        let _ = SEND.try_with(|slots| give_to(slots, send));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many of `slots` hold a spare.
    fn full<T>(slots: &[Cell<Option<T>>; KEEP]) -> usize {
        slots
            .iter()
            .filter(|slot| {
                let held = slot.take();
                let is_full = held.is_some();
                slot.set(held);
                is_full
            })
            .count()
    }

    #[test]
    fn buffers_come_back_to_the_next_taker() {
        let (mut read, send) = take(1024);
        assert!(send.is_none(), "a new thread has no spares");
        read.extend_from_slice(b"frame");
        let address = read.as_ptr();
        let _ = read.split_to(5);
        let send = Vec::with_capacity(64);
        let send_address = send.as_ptr();
        give(read, 1024, Some(send));
        let (again, send) = take(1024);
        assert_eq!(
            again.as_ptr(),
            address,
            "the same allocation, from its start"
        );
        assert!(again.is_empty() && again.capacity() >= 1024);
        assert_eq!(send.map(|buf| buf.as_ptr()), Some(send_address));
    }

    #[test]
    fn a_read_buffer_shared_with_a_message_is_not_kept() {
        let (mut read, _) = take(1024);
        read.extend_from_slice(b"frame");
        let message = read.split_to(5).freeze();
        give(read, 1024, None);
        assert_eq!(READ.with(full), 0, "not kept while a message holds it");
        assert_eq!(&message[..], b"frame");
    }

    #[test]
    fn a_read_buffer_with_bytes_left_is_not_kept() {
        let (mut read, _) = take(1024);
        read.extend_from_slice(b"part of a frame");
        give(read, 1024, None);
        assert_eq!(READ.with(full), 0);
    }

    #[test]
    fn a_large_read_buffer_is_not_kept() {
        let mut read = BytesMut::with_capacity(1 << 20);
        read.extend_from_slice(&[7; 1000]);
        let _ = read.split_to(1000);
        give(read, 1024, None);
        assert_eq!(READ.with(full), 0);
    }

    #[test]
    fn a_thread_keeps_a_few_buffers_at_most() {
        for _ in 0..KEEP + 3 {
            give(
                BytesMut::with_capacity(1024),
                1024,
                Some(Vec::with_capacity(64)),
            );
        }
        assert_eq!(READ.with(full), KEEP);
        assert_eq!(SEND.with(full), KEEP);
    }
}
