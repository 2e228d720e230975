//! The outbox alone: frame boundaries, owed frames, held payloads and
//! memory, at every partial-write point.

use super::*;

/// Queues a frame whose bytes are all in the buffer.
fn frame(outbox: &mut Outbox, bytes: &[u8]) {
    outbox.begin_frame(bytes.len());
    outbox.push(bytes);
}

/// Queues a frame of `header` then `payload` held by reference.
fn held(outbox: &mut Outbox, header: &[u8], payload: &Bytes) {
    outbox.begin_frame(header.len());
    outbox.push(header);
    outbox.push_held(payload.clone());
}

fn owe_pong(outbox: &mut Outbox, byte: u8) {
    outbox.owe(&[0x8a, 1, byte], true, false);
}

/// Everything, in `step`-byte writes of what `pending` shows.
fn write_all(outbox: &mut Outbox, step: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    loop {
        let pending = outbox.pending();
        if pending.is_empty() {
            break;
        }
        let n = step.min(pending.len());
        wire.extend_from_slice(&pending[..n]);
        let before = outbox.buffered();
        outbox.advance(n);
        assert_eq!(outbox.buffered(), before - n);
    }
    assert_eq!(outbox.buffered(), 0);
    assert!(outbox.queue.is_none(), "the box outlived its contents");
    wire
}

/// The chunks `pending_chunks` shows, concatenated.
fn chunks(outbox: &Outbox) -> Vec<u8> {
    let mut out = [&[][..]; 16];
    let n = outbox.pending_chunks(&mut out);
    assert!(out[..n].iter().all(|c| !c.is_empty()));
    out[..n].concat()
}

#[test]
fn one_frame_needs_no_box() {
    let mut outbox = Outbox::default();
    frame(&mut outbox, b"\x82\x02hi");
    assert!(outbox.queue.is_none());
    assert_eq!(outbox.pending(), b"\x82\x02hi");
    outbox.advance(1);
    assert_eq!(outbox.pending(), b"\x02hi");
    assert_eq!(outbox.buffered(), 3);
    outbox.advance(100);
    assert_eq!(outbox.buffered(), 0);
    assert!(outbox.queue.is_none());
}

#[test]
fn a_small_buffer_is_kept_a_large_one_let_go() {
    let mut outbox = Outbox::default();
    frame(&mut outbox, &[1; 100]);
    write_all(&mut outbox, 100);
    assert!(outbox.buf.capacity() >= 100);
    frame(&mut outbox, &vec![2; KEEP_CAPACITY + 1]);
    write_all(&mut outbox, 1000);
    assert_eq!(outbox.buf.capacity(), 0);
    // Through `drain_into` as well.
    frame(&mut outbox, &vec![3; KEEP_CAPACITY + 1]);
    let mut out = vec![0];
    outbox.drain_into(&mut out);
    assert_eq!(outbox.buf.capacity(), 0);
}

#[test]
fn an_owed_frame_waits_for_the_end_of_the_frame_being_written() {
    // At every point of the first frame the owed pong arrives, it goes
    // out at the next boundary, whatever the write sizes.
    let first = [0x82, 4, 1, 1, 1, 1];
    let second = [0x82, 1, 2];
    for at in 0..=first.len() + second.len() {
        for step in 1..8 {
            let mut outbox = Outbox::default();
            frame(&mut outbox, &first);
            frame(&mut outbox, &second);
            outbox.advance(at);
            owe_pong(&mut outbox, 9);
            let mut wire = [&first[..], &second[..]].concat()[..at].to_vec();
            wire.extend(write_all(&mut outbox, step));
            let expected: &[&[u8]] = match at {
                0 => &[&[0x8a, 1, 9], &first, &second],
                1..=6 => &[&first, &[0x8a, 1, 9], &second],
                _ => &[&first, &second, &[0x8a, 1, 9]],
            };
            assert_eq!(wire, expected.concat(), "pong at {at}, writes of {step}");
        }
    }
}

#[test]
fn owed_frames_keep_their_order_across_data_queued_between() {
    let mut outbox = Outbox::default();
    owe_pong(&mut outbox, 1);
    frame(&mut outbox, b"\x81\x01a");
    owe_pong(&mut outbox, 2);
    let expected = b"\x8a\x01\x01\x8a\x01\x02\x81\x01a";
    assert_eq!(chunks(&outbox), expected);
    assert_eq!(write_all(&mut outbox, 2), expected);
}

#[test]
fn a_held_payload_is_written_from_its_own_memory() {
    let payload = Bytes::from(vec![7u8; 2000]);
    let mut outbox = Outbox::default();
    frame(&mut outbox, b"\x81\x01a");
    held(&mut outbox, &[0x82, 126, 0x07, 0xd0], &payload);
    frame(&mut outbox, b"\x81\x01z");
    let mut out = [&[][..]; 4];
    assert_eq!(outbox.pending_chunks(&mut out), 3);
    assert_eq!(out[0], b"\x81\x01a\x82\x7e\x07\xd0");
    assert_eq!(out[1].as_ptr(), payload.as_ptr());
    assert_eq!(out[1].len(), 2000);
    assert_eq!(out[2], b"\x81\x01z");
    assert_eq!(outbox.buffered(), 7 + 2000 + 3);
    // One advance across the header, the payload and into the next.
    outbox.advance(7 + 2000 + 1);
    assert!(payload.is_unique(), "the outbox still holds the payload");
    assert_eq!(outbox.pending(), b"\x01z");
}

#[test]
fn owed_frames_go_between_a_header_and_held_payloads_never() {
    let payload = Bytes::from((0..=255u8).cycle().take(3000).collect::<Vec<_>>());
    let header = [0x82, 126, 0x0b, 0xb8];
    let whole = [&header[..], &payload, b"\x81\x01z"].concat();
    for at in [0, 1, 3, 4, 5, 1000, 3003, 3004, 3005, 3006, 3007] {
        for step in [1, 3, 1000, usize::MAX] {
            let mut outbox = Outbox::default();
            held(&mut outbox, &header, &payload);
            frame(&mut outbox, b"\x81\x01z");
            outbox.advance(at);
            owe_pong(&mut outbox, 9);
            let mut wire = whole[..at].to_vec();
            wire.extend(write_all(&mut outbox, step));
            let boundary = match at {
                0 => 0,
                1..=3004 => 3004,
                _ => whole.len(),
            };
            let mut expected = whole.clone();
            expected.splice(boundary..boundary, [0x8a, 1, 9]);
            assert!(wire == expected, "pong at {at}, writes of {step}");
        }
    }
}

#[test]
fn a_frame_started_before_the_outbox_emptied_is_finished_first() {
    // `send_in_place`: the header went out, the rest of the payload
    // came back; the writer is inside that frame.
    let mut outbox = Outbox::default();
    frame(&mut outbox, &[0x82, 4]);
    outbox.advance(2);
    outbox.finish_last_frame(&[1, 2, 3, 4]);
    owe_pong(&mut outbox, 9);
    assert_eq!(outbox.pending(), [1, 2, 3, 4]);
    assert_eq!(write_all(&mut outbox, 3), [1, 2, 3, 4, 0x8a, 1, 9]);
}

#[test]
fn drain_into_moves_everything_in_order() {
    let payload = Bytes::from(vec![5u8; 1500]);
    let mut outbox = Outbox::default();
    frame(&mut outbox, b"\x81\x02ab");
    outbox.advance(1);
    held(&mut outbox, &[0x82, 126, 0x05, 0xdc], &payload);
    owe_pong(&mut outbox, 9);
    let mut out = b"before".to_vec();
    let n = outbox.drain_into(&mut out);
    assert_eq!(n, 3 + 3 + 4 + 1500);
    let expected = [&b"before\x02ab\x8a\x01\x09\x82\x7e\x05\xdc"[..], &payload].concat();
    assert_eq!(out, expected);
    assert_eq!(outbox.buffered(), 0);
    assert!(outbox.queue.is_none());
    assert!(payload.is_unique());
}

#[test]
fn written_bytes_are_dropped_from_the_front_as_frames_are_queued() {
    // One byte always left: the buffer never empties, so only
    // dropping the written front keeps it small.
    let mut outbox = Outbox::default();
    frame(&mut outbox, &0u32.to_be_bytes());
    outbox.advance(3);
    for i in 1..1000u32 {
        frame(&mut outbox, &i.to_be_bytes());
        outbox.advance(4);
        assert!(outbox.buf.len() <= 10, "{} at {i}", outbox.buf.len());
    }
    assert_eq!(outbox.pending(), [999u32.to_be_bytes()[3]]);
}

#[test]
fn discard_lets_go_of_everything() {
    let mut outbox = Outbox::default();
    frame(&mut outbox, &[1; 10]);
    held(&mut outbox, &[2], &Bytes::from(vec![3; 2000]));
    owe_pong(&mut outbox, 1);
    outbox.discard();
    assert_eq!(outbox.buffered(), 0);
    assert!(outbox.queue.is_none() && outbox.buf.capacity() == 0);
}
