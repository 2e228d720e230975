//! Quadratic-work guards: a 16 KiB handshake head and a 1 MiB message fed
//! one byte at a time must cost work proportional to their size.
//!
//! Work is counted, not timed: the handshakes and the connection meter the
//! bytes they copy, search, parse, unmask and validate (`bytes_examined`,
//! a hidden test hook), and a counting allocator in this test binary counts
//! allocation calls. A parser that rescanned its buffer on every byte would
//! examine about n²/2 bytes (8 million times the head for 16 KiB); one that
//! allocated per call would make a million allocations for 1 MiB.
//!
//! The meter exists with the `test-meter` feature only (which
//! `cargo test --all-features` turns on), hence this file's `cfg`.

#![cfg(all(feature = "std", feature = "test-meter"))]

use crate::common;
use crate::counting;

use common::{LenEncoding, MASK, client_frame, header};
use wsproto::handshake::{Accept, ClientHandshake, ClientRequest, ServerHandshake};
use wsproto::{Config, Connection, Event, Role, StreamEvent};

/// Allocation calls made on this thread while `f` runs.
fn allocations_during<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = counting::calls();
    let out = f();
    (out, counting::calls() - before)
}

const HEAD_LEN: usize = 16 * 1024;
const MESSAGE_LEN: usize = 1 << 20;

/// A request head of exactly `len` bytes (a long cookie fills it), and the
/// cookie's length.
fn request_head(len: usize) -> (Vec<u8>, usize) {
    let start = "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\nCookie: c=";
    let end = "\r\n\r\n";
    let fill = len - start.len() - end.len();
    let head = format!("{start}{}{end}", "a".repeat(fill)).into_bytes();
    (head, "c=".len() + fill)
}

#[test]
fn a_16_kib_request_head_byte_at_a_time_costs_linear_work() {
    let (head, cookie_len) = request_head(HEAD_LEN);
    assert_eq!(
        head.len(),
        Config::default().max_handshake_len,
        "the largest head allowed"
    );
    let mut handshake = ServerHandshake::new(&Config::default());
    let (request, allocations) = allocations_during(|| {
        let (last, before) = head.split_last().expect("not empty");
        for byte in before {
            assert_eq!(handshake.recv(std::slice::from_ref(byte)), Ok(None));
        }
        handshake.recv(std::slice::from_ref(last))
    });
    let request = request.expect("valid").expect("complete");
    assert_eq!(
        request.headers().get("Cookie").map(<[u8]>::len),
        Some(cookie_len)
    );
    // Each byte is copied once and searched at most three times (the search
    // resumes two bytes back), then the whole head is parsed once: 5 per
    // byte. The bound leaves room for such details to change; a search that
    // restarted from the top would examine n²/2.
    let work = handshake.bytes_examined();
    let n = HEAD_LEN as u64;
    assert!(work <= 8 * n, "examined {work} bytes for a {n}-byte head");
    // The buffer doubles (about 15 times to 16 KiB); the request's fields
    // take two allocations each.
    assert!(allocations <= 64, "{allocations} allocations for one head");

    // Whole, the same head costs the same order of work: the copy, one
    // search and one parse.
    let mut whole = ServerHandshake::new(&Config::default());
    assert!(whole.recv(&head).expect("valid").is_some());
    assert_eq!(whole.bytes_examined(), 3 * n);
}

#[test]
fn a_16_kib_response_head_byte_at_a_time_costs_linear_work() {
    let request = ClientRequest::new("ws://example.com/chat").expect("valid URL");
    let mut client = ClientHandshake::new(&request, Config::default()).expect("builds");
    let offer = ServerHandshake::new(&Config::default())
        .recv(client.request_bytes())
        .expect("valid")
        .expect("complete");
    let plain = offer.accept(&Accept::new()).expect("accepts").to_bytes();
    // Pad the response to 16 KiB with one more header field.
    let pad = HEAD_LEN - plain.len() - "X-Pad: \r\n".len();
    let response = offer
        .accept(&Accept::new().header("X-Pad", "p".repeat(pad)))
        .expect("accepts")
        .to_bytes();
    assert_eq!(response.len(), HEAD_LEN);
    let (upgraded, allocations) = allocations_during(|| {
        let (last, before) = response.split_last().expect("not empty");
        for byte in before {
            assert!(matches!(client.recv(std::slice::from_ref(byte)), Ok(None)));
        }
        client.recv(std::slice::from_ref(last))
    });
    let upgraded = upgraded.expect("valid").expect("complete");
    assert_eq!(
        upgraded.response().headers().get("X-Pad").map(<[u8]>::len),
        Some(pad)
    );
    let work = client.bytes_examined();
    let n = HEAD_LEN as u64;
    assert!(work <= 8 * n, "examined {work} bytes for a {n}-byte head");
    assert!(allocations <= 64, "{allocations} allocations for one head");
}

/// A 1 MiB text message of 1- to 4-byte characters, as one masked frame
/// (a client's), so unmasking and UTF-8 checks see characters cut at every
/// byte.
fn mixed_text() -> String {
    let chars = ['a', 'é', '€', '𝄞'];
    let mut text = String::with_capacity(MESSAGE_LEN);
    let mut i = 0;
    while text.len() + 4 <= MESSAGE_LEN {
        text.push(chars[i % 4]);
        i += 1;
    }
    while text.len() < MESSAGE_LEN {
        text.push('a');
    }
    text
}

/// Feeds `wire` one byte at a time at the message level; the events.
fn messages_byte_at_a_time(conn: &mut Connection, wire: &[u8]) -> Vec<Event> {
    let mut events = Vec::new();
    for byte in wire {
        conn.recv(std::slice::from_ref(byte));
        while let Some(event) = conn.poll_event().expect("valid") {
            events.push(event);
        }
    }
    events
}

#[test]
fn a_1_mib_message_byte_at_a_time_costs_linear_work() {
    let text = mixed_text();
    let wire = client_frame(true, 0x1, text.as_bytes());
    let mut server = Connection::new(Role::Server, Config::default());
    let (events, allocations) = allocations_during(|| messages_byte_at_a_time(&mut server, &wire));
    assert_eq!(events, vec![Event::Text(text.into())]);
    // Per payload byte: unmask, validate, copy into the message, and the
    // final check of the whole message (4 per byte), plus the header parsed
    // again while it is incomplete.
    let work = server.bytes_examined();
    let n = MESSAGE_LEN as u64;
    assert!(
        work <= 8 * n,
        "examined {work} bytes for a {n}-byte message"
    );
    // The message buffer doubles (about 21 times to 1 MiB), plus the event
    // queue and the events vector.
    assert!(
        allocations <= 64,
        "{allocations} allocations for one message"
    );
}

#[test]
fn a_1_mib_message_byte_at_a_time_at_the_streaming_level_allocates_nothing() {
    let payload: Vec<u8> = (0..MESSAGE_LEN).map(|i| (i % 251) as u8).collect();
    let mut wire = header(
        true,
        0,
        0x2,
        MESSAGE_LEN as u64,
        Some(MASK),
        LenEncoding::Minimal,
    );
    wire.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    let mut server = Connection::new(Role::Server, Config::default()).into_streaming();
    let mut received = Vec::with_capacity(MESSAGE_LEN);
    let ((), allocations) = allocations_during(|| {
        for byte in &mut wire {
            let mut at = 0;
            let one = std::slice::from_mut(byte);
            while at < one.len() {
                let (used, event) = server.recv_in_place(&mut one[at..]).expect("valid");
                at += used;
                match event {
                    Some(StreamEvent::Data { payload, .. }) => received.extend_from_slice(payload),
                    Some(other) => panic!("unexpected {other:?}"),
                    None => break,
                }
            }
        }
    });
    assert_eq!(received, payload);
    // Unmasking only (1 per byte), plus the header.
    let work = server.bytes_examined();
    let n = MESSAGE_LEN as u64;
    assert!(
        work <= 2 * n,
        "examined {work} bytes for a {n}-byte message"
    );
    assert_eq!(allocations, 0, "the streaming level allocated");
}

/// The same text compressed (permessage-deflate), fed one byte at a time:
/// every compressed byte is copied and unmasked once, every inflated byte
/// zero-filled at most twice (the buffer doubles) and validated twice.
#[cfg(feature = "deflate")]
#[test]
fn a_1_mib_compressed_message_byte_at_a_time_costs_linear_work() {
    use flate2::{Compress, Compression, FlushCompress};
    let text = mixed_text();
    let mut compress = Compress::new_with_window_bits(Compression::new(1), false, 15);
    let mut payload = Vec::with_capacity(MESSAGE_LEN);
    compress
        .compress_vec(text.as_bytes(), &mut payload, FlushCompress::Sync)
        .expect("compressed");
    payload.truncate(payload.len() - 4);
    let wire = common::masked_frame(true, 0b100, 0x1, &payload, MASK, LenEncoding::Minimal);
    let params = wsproto::DeflateParams::new(15, 15, false, false).expect("valid bits");
    let mut server = Connection::with_deflate(
        Role::Server,
        Config::default(),
        params,
        Box::new(common::ScriptedEntropy::xorshift()),
    );
    let (events, allocations) = allocations_during(|| messages_byte_at_a_time(&mut server, &wire));
    assert_eq!(events, vec![Event::Text(text.into())]);
    let work = server.bytes_examined();
    let (n, c) = (MESSAGE_LEN as u64, payload.len() as u64);
    println!("examined {work} bytes for {n} inflated from {c}; {allocations} allocations");
    assert!(
        work <= 8 * n + 4 * c,
        "examined {work} bytes for a {n}-byte message ({c} compressed)"
    );
    assert!(
        allocations <= 64,
        "{allocations} allocations for one message"
    );
}
