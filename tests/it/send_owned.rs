//! `send_binary_owned` / `send_text_owned` and the vectored transmit
//! (`pending_transmit_chunks`, `advance_transmit` across chunks), through
//! the public API: a server's large payload is written from its own memory
//! (no copy), a client's is masked in place when it owns the buffer alone
//! and copied once while masking when it does not, small payloads are
//! coalesced, the wire is that of `send_binary` in every case, owed pongs
//! land between frames at every partial-write point, backpressure counts
//! held payloads, and a received message is echoed without a copy.

#![cfg(feature = "std")]

use crate::common;

use common::*;
use wsproto::bytes::{Bytes, BytesMut};
use wsproto::{
    CloseCode, Config, Connection, Event, MessageKind, Misuse, Role, SendError, Utf8Bytes,
};

/// At and above this size an owned payload is queued by reference.
const LARGE: usize = 4096;

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

/// The chunks `pending_transmit_chunks` shows, as owned slices' addresses
/// and contents.
fn chunks(conn: &Connection) -> Vec<(*const u8, Vec<u8>)> {
    let mut out = [&[][..]; 8];
    let n = conn.pending_transmit_chunks(&mut out);
    out[..n].iter().map(|c| (c.as_ptr(), c.to_vec())).collect()
}

/// Everything, one vectored write of at most `cap` bytes at a time.
fn write_vectored(conn: &mut Connection, cap: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    loop {
        let mut out = [&[][..]; 4];
        let n = conn.pending_transmit_chunks(&mut out);
        if n == 0 {
            break;
        }
        let mut took = 0;
        for chunk in &out[..n] {
            let k = chunk.len().min(cap - took);
            wire.extend_from_slice(&chunk[..k]);
            took += k;
        }
        let before = conn.buffered_amount();
        conn.advance_transmit(took);
        assert_eq!(conn.buffered_amount(), before - took);
    }
    assert_eq!(conn.buffered_amount(), 0);
    wire
}

/// What `send_binary` puts on the wire for the same payload, with the same
/// keys (a fresh connection of `role`).
fn send_binary_wire(role: Role, payload: &[u8]) -> Vec<u8> {
    let mut conn = connection(role, Config::default());
    conn.send_binary(payload).expect("open");
    let mut wire = Vec::new();
    conn.poll_transmit(&mut wire);
    wire
}

// ----- no copy -----

#[test]
fn a_servers_large_payload_is_written_from_its_own_memory() {
    for len in [LARGE, 65535, 65536, 1 << 20] {
        let original = payload(len);
        let owned = Bytes::from(original.clone());
        let at = owned.as_ptr();
        let mut server = connection(Role::Server, Config::default());
        server.send_binary_owned(owned).expect("open");
        let shown = chunks(&server);
        assert_eq!(shown.len(), 2, "{len}: header and payload");
        assert_eq!(shown[1].0, at, "{len}: the payload was copied");
        assert_eq!(shown[1].1, original);
        assert_eq!(server.buffered_amount(), shown[0].1.len() + len);
        let wire = write_vectored(&mut server, usize::MAX);
        assert!(wire == send_binary_wire(Role::Server, &original), "{len}");
    }
}

#[test]
fn a_vec_and_a_string_are_taken_without_a_copy() {
    let mut server = connection(Role::Server, Config::default());
    let vec = payload(5000);
    let at = vec.as_ptr();
    server.send_binary_owned(vec).expect("open");
    assert_eq!(chunks(&server)[1].0, at);
    write_vectored(&mut server, usize::MAX);

    let text = "é".repeat(3000);
    let owned = text.clone();
    let at = owned.as_ptr();
    server.send_text_owned(owned).expect("open");
    assert_eq!(chunks(&server)[1].0, at);
    let wire = write_vectored(&mut server, 7);
    let frames = parse_frames(&wire);
    assert_eq!(frames.len(), 1);
    assert_eq!(
        (frames[0].opcode, &frames[0].payload),
        (OP_TEXT, &text.into_bytes())
    );
}

#[test]
fn a_clients_unique_payload_is_masked_in_place() {
    let original = payload(6000);
    let owned = BytesMut::from(&original[..]);
    let at = owned.as_ptr();
    let mut client = connection(Role::Client, Config::default());
    client.send_binary_owned(owned).expect("open");
    let shown = chunks(&client);
    assert_eq!(shown.len(), 2);
    assert_eq!(shown[1].0, at, "the unique buffer was copied");
    assert_ne!(shown[1].1, original, "not masked");
    let wire = write_vectored(&mut client, usize::MAX);
    assert!(wire == send_binary_wire(Role::Client, &original));
    let frames = parse_frames(&wire);
    assert!(frames[0].masked && frames[0].payload == original);
}

#[test]
fn a_clients_shared_payload_is_copied_once_and_left_alone() {
    let original = payload(6000);
    let shared = Bytes::from(original.clone());
    let mut client = connection(Role::Client, Config::default());
    client.send_binary_owned(shared.clone()).expect("open");
    // Masked into the outbox: one contiguous piece, not the shared memory.
    let shown = chunks(&client);
    assert_eq!(shown.len(), 1);
    assert!(!shown[0].1.is_empty());
    let range = shared.as_ptr_range();
    assert!(!range.contains(&shown[0].0));
    assert_eq!(shared, original, "the shared buffer was masked");
    let wire = write_vectored(&mut client, 100);
    assert!(wire == send_binary_wire(Role::Client, &original));
    assert!(shared.is_unique(), "the connection kept a reference");
}

#[test]
fn a_held_payload_is_let_go_once_written() {
    let shared = Bytes::from(payload(8000));
    let mut server = connection(Role::Server, Config::default());
    server.send_binary_owned(shared.clone()).expect("open");
    assert!(!shared.is_unique());
    // Part of it: still held.
    let header = chunks(&server)[0].1.len();
    server.advance_transmit(header + 7999);
    assert!(!shared.is_unique());
    server.advance_transmit(1);
    assert!(shared.is_unique());
    assert!(server.pending_transmit().is_empty());
}

#[test]
fn a_received_message_is_echoed_without_a_copy() {
    let message = payload(10_000);
    let mut input = BytesMut::from(&client_frame(true, OP_BINARY, &message)[..]);
    let mut server = connection(Role::Server, Config::default());
    let Ok(Some(Event::Binary(received))) = server.poll_event_from(&mut input) else {
        panic!("expected the message");
    };
    let at = received.as_ptr();
    server.send_binary_owned(received).expect("open");
    assert_eq!(chunks(&server)[1].0, at);
    let wire = write_vectored(&mut server, usize::MAX);
    assert!(parse_frames(&wire)[0].payload == message);
}

// ----- small payloads -----

#[test]
fn small_payloads_are_coalesced_into_one_write() {
    for role in [Role::Server, Role::Client] {
        let mut conn = connection(role, Config::default());
        conn.send_binary_owned(payload(16)).expect("open");
        conn.send_text_owned("small").expect("open");
        conn.send_binary_owned(payload(LARGE - 1)).expect("open");
        assert_eq!(chunks(&conn).len(), 1, "{role:?}");
        let frames = parse_frames(&write_vectored(&mut conn, 10));
        let sent: Vec<_> = frames
            .iter()
            .map(|f| (f.opcode, f.payload.clone()))
            .collect();
        assert_eq!(
            sent,
            [
                (OP_BINARY, payload(16)),
                (OP_TEXT, b"small".to_vec()),
                (OP_BINARY, payload(LARGE - 1))
            ]
        );
    }
}

#[test]
fn owned_and_copied_sends_interleave_in_order() {
    for role in [Role::Server, Role::Client] {
        let mut conn = connection(role, Config::default());
        let mut expected = Vec::new();
        for i in 0..6usize {
            let body = payload(if i % 2 == 0 { 6000 + i } else { 10 + i });
            match i % 3 {
                0 => conn.send_binary_owned(body.clone()),
                1 => conn.send_binary(&body),
                _ => conn.send_binary_owned(Bytes::from(body.clone())),
            }
            .expect("open");
            expected.push(body);
        }
        conn.close(std::time::Instant::now(), CloseCode::NORMAL, "bye")
            .expect("open");
        for cap in [1, 5, 1000, usize::MAX] {
            let mut copy = connection(role, Config::default());
            for (i, body) in expected.iter().enumerate() {
                if i % 3 == 1 {
                    copy.send_binary(body).expect("open");
                } else {
                    copy.send_binary_owned(body.clone()).expect("open");
                }
            }
            copy.close(std::time::Instant::now(), CloseCode::NORMAL, "bye")
                .expect("open");
            let frames = parse_frames(&write_vectored(&mut copy, cap));
            let data: Vec<_> = frames[..6].iter().map(|f| f.payload.clone()).collect();
            assert!(data == expected, "{role:?}, writes of {cap}");
            assert_eq!(frames[6].opcode, OP_CLOSE);
        }
        // And all at once, copied in by `poll_transmit`.
        let mut wire = Vec::new();
        let n = conn.poll_transmit(&mut wire);
        assert_eq!(n, wire.len());
        let frames = parse_frames(&wire);
        assert_eq!(frames.len(), 7);
    }
}

// ----- owed pongs -----

/// Two large owned messages and a small one, `written` bytes of them
/// written, then a ping: the pong lands at the next frame boundary, and
/// everything else is as queued.
fn pong_after(role: Role, written: usize, cap: usize) {
    let bodies = [payload(6000), payload(4500), payload(3)];
    let mut conn = connection(role, Config::default());
    for body in &bodies {
        conn.send_binary_owned(body.clone()).expect("open");
    }
    let mut wire = Vec::new();
    let mut left = written;
    while left > 0 {
        let mut out = [&[][..]; 4];
        let n = conn.pending_transmit_chunks(&mut out);
        let take: Vec<u8> = out[..n].concat().into_iter().take(left).collect();
        wire.extend_from_slice(&take);
        conn.advance_transmit(take.len());
        left -= take.len();
    }
    let ping = match role {
        Role::Server => client_frame(true, OP_PING, b"p"),
        Role::Client => server_frame(true, OP_PING, b"p"),
    };
    conn.recv(&ping);
    assert_eq!(conn.poll_event(), common::ping(b"p").map(Some));
    wire.extend(write_vectored(&mut conn, cap));
    let frames = parse_frames(&wire);
    let opcodes: Vec<u8> = frames.iter().map(|f| f.opcode).collect();
    // Frame ends on the wire, in bytes, for where the pong should be.
    let key = if role == Role::Client { 4 } else { 0 };
    let ends = [
        4 + key + 6000,
        2 * (4 + key) + 10500,
        2 * (4 + key) + 10500 + 2 + key + 3,
    ];
    let before = ends.iter().filter(|&&end| end <= written).count();
    let at = if written == 0 || ends.contains(&written) {
        before
    } else {
        before + 1
    };
    let mut expected = vec![OP_BINARY; 3];
    expected.insert(at, OP_PONG);
    assert_eq!(
        opcodes, expected,
        "{role:?}: ping after {written}, writes of {cap}"
    );
    let data: Vec<_> = frames.iter().filter(|f| f.opcode == OP_BINARY).collect();
    for (got, want) in data.iter().zip(&bodies) {
        assert!(got.payload == *want, "{role:?}: ping after {written}");
    }
}

#[test]
fn owed_pongs_land_between_frames_of_owned_payloads_at_every_point() {
    for role in [Role::Server, Role::Client] {
        let total = send_binary_wire(role, &payload(6000)).len()
            + send_binary_wire(role, &payload(4500)).len()
            + send_binary_wire(role, &payload(3)).len();
        for written in 0..=total {
            pong_after(role, written, usize::MAX);
        }
        for written in [0, 1, 3, 4, 5, 6004, 6005, 6008, 8000, 10508, 10516, total] {
            for cap in [1, 2, 7, 1000] {
                pong_after(role, written.min(total), cap);
            }
        }
    }
}

// ----- backpressure and errors -----

#[test]
fn backpressure_counts_held_payloads() {
    let mut config = Config::default();
    config.send_high_water = 1000;
    let mut server = connection(Role::Server, config);
    server
        .send_binary_owned(payload(5000))
        .expect("under the mark");
    assert_eq!(server.buffered_amount(), 4 + 5000);
    assert!(!server.wants_read());
    let refused = Err(SendError::WouldBlock {
        buffered: 5004,
        high_water: 1000,
    });
    assert_eq!(server.send_binary_owned(payload(2000)), refused);
    assert_eq!(server.send_text_owned("no"), refused);
    assert_eq!(server.buffered_amount(), 5004, "a refused send queued");
    server.advance_transmit(4004);
    assert!(server.wants_read());
    server
        .send_text_owned(String::from("yes"))
        .expect("at the mark");
    let rest = write_vectored(&mut server, 3);
    assert_eq!(rest.len(), 1000 + 5);
    assert!(rest[..1000] == payload(5000)[4000..]);
    assert_eq!(&rest[1000..], b"\x81\x03yes");
}

#[test]
fn a_refused_client_send_leaves_the_buffer_unmasked() {
    let mut client = connection(Role::Client, Config::default());
    client
        .close(std::time::Instant::now(), CloseCode::NORMAL, "")
        .expect("open");
    let owned = Bytes::from(payload(6000));
    let keep = owned.clone();
    assert_eq!(client.send_binary_owned(owned), Err(SendError::Closed));
    assert_eq!(keep, payload(6000));
    let mut client = connection(Role::Client, Config::default());
    client
        .send_fragment(MessageKind::Binary, b"first", false)
        .expect("open");
    assert_eq!(
        client.send_binary_owned(payload(6000)),
        Err(SendError::Misuse(Misuse::MessageInProgress))
    );
    assert_eq!(
        client.send_text_owned(Utf8Bytes::from("small")),
        Err(SendError::Misuse(Misuse::MessageInProgress))
    );
}

#[cfg(feature = "deflate")]
#[test]
fn a_compressible_owned_payload_is_compressed() {
    use wsproto::{DeflateParams, OsEntropy};
    let params = DeflateParams::new(15, 15, false, false).expect("valid window bits");
    let mut server = Connection::with_deflate(
        Role::Server,
        Config::default(),
        params,
        Box::new(OsEntropy::new()),
    );
    let mut client = Connection::with_deflate(
        Role::Client,
        Config::default(),
        params.mirrored(),
        Box::new(OsEntropy::new()),
    );
    let text = "compress me please ".repeat(500);
    server.send_text_owned(text.clone()).expect("open");
    assert_eq!(chunks_len(&server), 1, "compressed into the outbox");
    let mut wire = Vec::new();
    server.poll_transmit(&mut wire);
    assert_eq!(wire[0], 0xc1, "FIN, RSV1, text");
    assert!(wire.len() < text.len() / 10);
    client.recv(&wire);
    assert_eq!(client.poll_event(), Ok(Some(Event::Text(text.into()))));
}

#[cfg(feature = "deflate")]
fn chunks_len(conn: &Connection) -> usize {
    let mut out = [&[][..]; 4];
    conn.pending_transmit_chunks(&mut out)
}

#[test]
fn pending_transmit_shows_the_first_chunk_and_advance_crosses_them() {
    let mut server = connection(Role::Server, Config::default());
    server.send_binary_owned(payload(6000)).expect("open");
    server.send_binary(b"tail").expect("open");
    assert_eq!(server.pending_transmit(), [0x82, 126, 0x17, 0x70]);
    let mut out = [&[][..]; 1];
    assert_eq!(
        server.pending_transmit_chunks(&mut out),
        1,
        "as many as fit"
    );
    assert_eq!(server.pending_transmit_chunks(&mut []), 0);
    server.advance_transmit(4 + 6000 + 2);
    assert_eq!(server.pending_transmit(), b"tail");
    server.advance_transmit(usize::MAX);
    assert_eq!(server.buffered_amount(), 0);
}
