//! The streaming level over a `BytesMut` read buffer
//! (`Connection::recv_bytes`), as the tokio driver and the hyper handover
//! read: each chunk is appended to the buffer, then events are taken until
//! it is used up.
//!
//! Invariants (checked by `crate::decode::check` against `run_stream`):
//!
//! - the same events, replies and state as `recv_in_place` on the same
//!   chunks, messages joined from their pieces;
//! - the buffer keeps exactly the bytes not yet consumed, unchanged: what
//!   a step took is its front, and a payload not inflated is no longer
//!   than what it took;
//! - a payload handed out stays as it was while later bytes are unmasked
//!   and decoded in the same memory (every payload of a chunk is held until
//!   the chunk is used up, then compared with its copy);
//! - after an error both receive calls keep returning it.

use wsproto::bytes::{Bytes, BytesMut};
use wsproto::{BytesEvent, Event, Role};

use crate::decode::{Run, assert_sticky, join_piece, streaming_connection};
use crate::input::Setup;

/// Runs `pieces` through `recv_bytes`.
pub fn run_bytes(role: Role, setup: &Setup, pieces: &[&[u8]]) -> Run {
    let mut conn = streaming_connection(role, setup);
    let mut events = Vec::new();
    let mut sent = Vec::new();
    let mut message = None;
    let mut failed = None;
    let mut buf = BytesMut::new();
    // Every byte appended to `buf`, and how many of them were consumed:
    // `buf` must hold `fed[consumed..]`.
    let mut fed = Vec::new();
    let mut consumed = 0;
    'chunks: for chunk in pieces {
        buf.extend_from_slice(chunk);
        fed.extend_from_slice(chunk);
        // Payloads handed out for this chunk, with what they held then.
        let mut held: Vec<(Bytes, Vec<u8>)> = Vec::new();
        loop {
            let before = buf.len();
            let event = match conn.recv_bytes(&mut buf) {
                Ok(event) => event,
                Err(error) => {
                    assert_sticky(&mut conn, error);
                    failed = Some(error);
                    events.push(Err(error));
                    break 'chunks;
                }
            };
            let used = before - buf.len();
            consumed += used;
            assert_eq!(
                &buf[..],
                &fed[consumed..],
                "the buffer does not keep the bytes after those consumed"
            );
            match event {
                None => {
                    assert!(buf.is_empty(), "stopped with {} bytes left", buf.len());
                    break;
                }
                Some(BytesEvent::Data { kind, payload, fin }) => {
                    if setup.deflate.is_none() {
                        assert!(payload.len() <= used, "payload longer than the bytes used");
                    }
                    assert!(
                        used > 0 || !payload.is_empty() || fin,
                        "an empty event that consumed nothing"
                    );
                    held.push((payload.clone(), payload.to_vec()));
                    events.extend(join_piece(&mut message, kind, &payload, fin).map(Ok));
                }
                Some(BytesEvent::Control(control)) => events.push(Ok(Event::Control(control))),
                Some(other) => panic!("unknown bytes event {other:?}"),
            }
        }
        for (payload, copy) in &held {
            assert_eq!(
                &payload[..],
                &copy[..],
                "a payload changed after it was handed out"
            );
        }
        conn.poll_transmit(&mut sent);
    }
    if setup.eof && failed.is_none() {
        conn.recv_eof();
        if let Err(error) = conn.recv_bytes(&mut BytesMut::new()) {
            events.push(Err(error));
        }
    }
    conn.poll_transmit(&mut sent);
    Run {
        events,
        sent,
        state: conn.state(),
    }
}
