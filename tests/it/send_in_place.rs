//! `Connection::send_in_place` and its `Outgoing` handle, through the public
//! API only: the bytes written via `chunks`/`advance` are exactly the wire
//! that `send_binary`/`send_text` produce (server and client, every header
//! length, whole and partial writes, early drops with pending bytes before
//! the header and messages after it), a client masks the caller's buffer in
//! place and a server leaves it alone, the error cases queue nothing, and
//! with permessage-deflate a compressible payload is compressed into the
//! connection while a short one is still handed out in place.

#![cfg(feature = "std")]

use proptest::prelude::*;
use wsproto::{
    CloseCode, Config, Connection, EntropyError, EntropySource, Event, MessageKind, Misuse,
    Outgoing, Role, SendError,
};

/// The masking key every fixed-key client uses (no zero byte, so every
/// masked byte differs from the original).
const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

/// An entropy source that always yields [`KEY`].
struct FixedKey;

impl EntropySource for FixedKey {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        for (i, byte) in dest.iter_mut().enumerate() {
            *byte = KEY[i % 4];
        }
        Ok(())
    }
}

fn server() -> Connection {
    Connection::new(Role::Server, Config::default())
}

fn client() -> Connection {
    Connection::with_entropy(Role::Client, Config::default(), Box::new(FixedKey))
}

fn fresh(role: Role) -> Connection {
    match role {
        Role::Server => server(),
        Role::Client => client(),
    }
}

/// Every frame-length class: empty, 7-bit, 16-bit and 64-bit lengths and
/// their edges.
const SIZES: [usize; 7] = [0, 1, 125, 126, 65535, 65536, 70000];

fn binary_payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

fn text_payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The encoded header length for a masked or unmasked frame of `len` bytes.
fn header_len(len: usize, masked: bool) -> usize {
    let base = match len {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    };
    if masked { base + 4 } else { base }
}

/// What `send_binary`/`send_text` put on the wire for the same message,
/// from a fresh connection in `role`.
fn reference_wire(role: Role, kind: MessageKind, payload: &[u8]) -> Vec<u8> {
    let mut conn = fresh(role);
    match kind {
        MessageKind::Binary => conn.send_binary(payload).unwrap(),
        MessageKind::Text => conn
            .send_text(std::str::from_utf8(payload).unwrap())
            .unwrap(),
    }
    let mut wire = Vec::new();
    conn.poll_transmit(&mut wire);
    wire
}

/// One vectored write of at most `n` bytes of `out.chunks()`, appended to
/// `wire` and reported with `advance`; returns how many bytes it took.
fn write_some(out: &mut Outgoing<'_, '_>, n: usize, wire: &mut Vec<u8>) -> usize {
    let [pending, rest] = out.chunks();
    let from_pending = n.min(pending.len());
    wire.extend_from_slice(&pending[..from_pending]);
    let from_rest = (n - from_pending).min(rest.len());
    wire.extend_from_slice(&rest[..from_rest]);
    let taken = from_pending + from_rest;
    out.advance(taken);
    taken
}

/// Writes everything `out` hands out, in one go.
fn write_all(mut out: Outgoing<'_, '_>, wire: &mut Vec<u8>) {
    let remaining = out.remaining();
    assert_eq!(write_some(&mut out, usize::MAX, wire), remaining);
    assert_eq!(out.remaining(), 0);
    assert!(out.chunks()[0].is_empty() && out.chunks()[1].is_empty());
}

// ----- 1. server role: same wire as send_binary / send_text -----

#[test]
fn server_in_place_matches_send_for_every_length_class() {
    for kind in [MessageKind::Binary, MessageKind::Text] {
        for len in SIZES {
            let original = match kind {
                MessageKind::Binary => binary_payload(len),
                MessageKind::Text => text_payload(len),
            };
            let mut payload = original.clone();
            let payload_ptr = payload.as_ptr();
            let mut conn = server();
            let out = conn.send_in_place(kind, &mut payload).unwrap();
            let [header, rest] = out.chunks();
            // Only the header is queued; the payload is the caller's buffer.
            assert_eq!(header.len(), header_len(len, false), "{kind:?} {len}");
            assert_eq!(rest, &original[..], "{kind:?} {len}");
            if len > 0 {
                assert_eq!(rest.as_ptr(), payload_ptr, "payload was copied");
            }
            assert_eq!(out.remaining(), header.len() + len);
            let mut wire = Vec::new();
            write_all(out, &mut wire);
            assert_eq!(
                wire,
                reference_wire(Role::Server, kind, &original),
                "{kind:?} {len}"
            );
            assert!(conn.pending_transmit().is_empty(), "{kind:?} {len}");
            // Servers do not mask.
            assert_eq!(payload, original, "{kind:?} {len}");
        }
    }
}

#[test]
fn server_in_place_matches_send_after_the_handle_is_dropped_unwritten() {
    // Writing nothing at all: the drop copies the whole payload in.
    for len in SIZES {
        let original = binary_payload(len);
        let mut payload = original.clone();
        let mut conn = server();
        drop(
            conn.send_in_place(MessageKind::Binary, &mut payload)
                .unwrap(),
        );
        let mut wire = Vec::new();
        conn.poll_transmit(&mut wire);
        assert_eq!(
            wire,
            reference_wire(Role::Server, MessageKind::Binary, &original),
            "{len}"
        );
        assert_eq!(payload, original);
    }
}

// ----- remaining / advance bookkeeping -----

#[test]
fn remaining_tracks_advance_and_advance_clamps() {
    let mut conn = server();
    conn.send_ping(b"ping").unwrap();
    let mut payload = binary_payload(300);
    let mut out = conn
        .send_in_place(MessageKind::Binary, &mut payload)
        .unwrap();
    let [pending, rest] = out.chunks();
    // The ping (6 bytes) then the 4-byte header, then the payload.
    assert_eq!(pending.len(), 6 + 4);
    assert_eq!(rest.len(), 300);
    assert_eq!(out.remaining(), pending.len() + rest.len());
    let mut remaining = out.remaining();
    // Steps that stay inside the pending bytes, cross into the payload and
    // stay inside the payload.
    for n in [0, 3, 5, 1, 2, 100, 0, 150] {
        out.advance(n);
        assert_eq!(out.remaining(), remaining - n, "after advance({n})");
        let [pending, rest] = out.chunks();
        assert_eq!(out.remaining(), pending.len() + rest.len());
        remaining -= n;
    }
    assert_eq!(remaining, 310 - 261);
    // Past the end: clamps to nothing left, and nothing is owed on drop.
    out.advance(remaining + 1000);
    assert_eq!(out.remaining(), 0);
    assert_eq!(out.chunks(), [&[] as &[u8], &[]]);
    out.advance(usize::MAX);
    assert_eq!(out.remaining(), 0);
    drop(out);
    assert!(conn.pending_transmit().is_empty());
    // The connection goes on normally.
    conn.send_binary(b"next").unwrap();
    assert_eq!(conn.pending_transmit(), b"\x82\x04next");
}

#[test]
fn advance_past_the_pending_bytes_clamps_to_the_payload() {
    let mut conn = server();
    let mut payload = binary_payload(10);
    let mut out = conn
        .send_in_place(MessageKind::Binary, &mut payload)
        .unwrap();
    assert_eq!(out.remaining(), 12);
    // One call that takes the header and part of the payload.
    out.advance(5);
    assert_eq!(out.remaining(), 7);
    assert!(out.chunks()[0].is_empty());
    assert_eq!(out.chunks()[1], &binary_payload(10)[3..]);
    out.advance(8);
    assert_eq!(out.remaining(), 0);
    drop(out);
    assert!(conn.pending_transmit().is_empty());
}

// ----- 2. partial writes and early drops -----

/// Sends `payload` in place on a fresh `role` connection (after a ping if
/// `ping_first`, of which `prewritten` bytes are written first), writing
/// `writes` sizes one after another and dropping the handle after the first
/// `stop` of them; then sends `after` with `send_binary`. Returns the whole
/// wire (written, then `poll_transmit`).
fn in_place_wire(
    role: Role,
    ping_first: bool,
    prewritten: usize,
    payload: &[u8],
    writes: &[usize],
    stop: usize,
    after: Option<&[u8]>,
) -> Vec<u8> {
    let mut conn = fresh(role);
    if ping_first {
        conn.send_ping(b"are you there").unwrap();
    }
    let mut wire = Vec::new();
    let prewritten = prewritten.min(conn.pending_transmit().len());
    wire.extend_from_slice(&conn.pending_transmit()[..prewritten]);
    conn.advance_transmit(prewritten);
    let mut buffer = payload.to_vec();
    {
        let mut out = conn
            .send_in_place(MessageKind::Binary, &mut buffer)
            .unwrap();
        for &n in writes.iter().take(stop) {
            let before = out.remaining();
            let taken = write_some(&mut out, n, &mut wire);
            assert_eq!(taken, n.min(before));
            assert_eq!(out.remaining(), before - taken);
        }
    }
    if let Some(after) = after {
        conn.send_binary(after).unwrap();
    }
    conn.poll_transmit(&mut wire);
    assert!(conn.pending_transmit().is_empty());
    wire
}

/// The same sequence through `send_ping` + `send_binary` only.
fn send_wire(role: Role, ping_first: bool, payload: &[u8], after: Option<&[u8]>) -> Vec<u8> {
    let mut conn = fresh(role);
    if ping_first {
        conn.send_ping(b"are you there").unwrap();
    }
    conn.send_binary(payload).unwrap();
    if let Some(after) = after {
        conn.send_binary(after).unwrap();
    }
    let mut wire = Vec::new();
    conn.poll_transmit(&mut wire);
    wire
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Server), Just(Role::Client)]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        // Do not write regression files into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn partial_writes_and_early_drop_give_the_send_binary_wire(
        role in role(),
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
        writes in proptest::collection::vec(0usize..700, 0..20),
        stop in 0usize..25,
        ping_first in any::<bool>(),
        prewritten in 0usize..20,
        after in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
    ) {
        let after = after.as_deref();
        let got = in_place_wire(role, ping_first, prewritten, &payload, &writes, stop, after);
        let expected = send_wire(role, ping_first, &payload, after);
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn partial_writes_to_the_end_leave_nothing_pending(
        role in role(),
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
        writes in proptest::collection::vec(1usize..700, 0..10),
        ping_first in any::<bool>(),
    ) {
        let mut conn = fresh(role);
        if ping_first {
            conn.send_ping(b"are you there").unwrap();
        }
        let mut buffer = payload.clone();
        let mut wire = Vec::new();
        {
            let mut out = conn.send_in_place(MessageKind::Binary, &mut buffer).unwrap();
            // The given sizes, then small writes until everything is out.
            for &n in writes.iter().chain(std::iter::repeat(&97)) {
                if out.remaining() == 0 {
                    break;
                }
                write_some(&mut out, n, &mut wire);
            }
        }
        prop_assert!(conn.pending_transmit().is_empty());
        prop_assert_eq!(wire, send_wire(role, ping_first, &payload, None));
    }
}

// ----- 3. client role: masking in place -----

fn unmask(masked: &[u8]) -> Vec<u8> {
    masked
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ KEY[i % 4])
        .collect()
}

#[test]
fn client_masks_in_place_and_the_server_reads_the_original() {
    for len in SIZES {
        let original = binary_payload(len);
        let mut payload = original.clone();
        let mut conn = client();
        let out = conn
            .send_in_place(MessageKind::Binary, &mut payload)
            .unwrap();
        // Masked header: the key follows the length.
        let [header, _] = out.chunks();
        assert_eq!(header.len(), header_len(len, true), "{len}");
        assert_eq!(&header[header.len() - 4..], &KEY);
        let mut wire = Vec::new();
        write_all(out, &mut wire);
        assert!(conn.pending_transmit().is_empty());

        assert_eq!(
            wire,
            reference_wire(Role::Client, MessageKind::Binary, &original),
            "{len}"
        );
        // The caller's buffer now holds the masked payload, as on the wire.
        assert_eq!(&wire[header_len(len, true)..], &payload[..], "{len}");
        assert!(
            payload.iter().zip(&original).all(|(m, o)| m != o),
            "every byte is masked with a key without zero bytes ({len})"
        );
        assert_eq!(unmask(&payload), original, "{len}");

        let mut peer = server();
        peer.recv(&wire);
        assert_eq!(peer.poll_event(), Ok(Some(Event::Binary(original.into()))));
        assert_eq!(peer.poll_event(), Ok(None));
    }
}

#[test]
fn client_text_in_place_reaches_the_server() {
    let text = "héllo wörld, 𝄞 ".repeat(20);
    let mut payload = text.clone().into_bytes();
    let mut conn = client();
    let mut wire = Vec::new();
    write_all(
        conn.send_in_place(MessageKind::Text, &mut payload).unwrap(),
        &mut wire,
    );
    assert_eq!(
        wire,
        reference_wire(Role::Client, MessageKind::Text, text.as_bytes())
    );
    assert_eq!(unmask(&payload), text.as_bytes());
    let mut peer = server();
    peer.recv(&wire);
    assert_eq!(peer.poll_event(), Ok(Some(Event::Text(text.into()))));
}

#[test]
fn client_early_drop_keeps_the_masked_payload_whole() {
    let original = binary_payload(1000);
    let mut payload = original.clone();
    let mut conn = client();
    let mut wire = Vec::new();
    {
        let mut out = conn
            .send_in_place(MessageKind::Binary, &mut payload)
            .unwrap();
        // The header (8 bytes) and 100 bytes of payload.
        assert_eq!(write_some(&mut out, 108, &mut wire), 108);
    }
    // The rest went into the connection, masked.
    assert_eq!(conn.pending_transmit().len(), 900);
    conn.poll_transmit(&mut wire);
    assert_eq!(
        wire,
        reference_wire(Role::Client, MessageKind::Binary, &original)
    );
    let mut peer = server();
    peer.recv(&wire);
    assert_eq!(peer.poll_event(), Ok(Some(Event::Binary(original.into()))));
}

// ----- 4. errors -----

#[test]
fn invalid_utf8_text_is_refused_and_nothing_is_queued() {
    for role in [Role::Server, Role::Client] {
        for bad in [&b"\xff"[..], b"abc\xc3", b"\xed\xa0\x80", b"ok \xe2\x82"] {
            let mut conn = fresh(role);
            let mut payload = bad.to_vec();
            let result = conn.send_in_place(MessageKind::Text, &mut payload);
            assert_eq!(
                result.err(),
                Some(SendError::Misuse(Misuse::InvalidUtf8)),
                "{bad:?}"
            );
            assert!(conn.pending_transmit().is_empty());
            // Nothing masked either.
            assert_eq!(payload, bad);
            // The same bytes are fine as binary.
            let mut wire = Vec::new();
            write_all(
                conn.send_in_place(MessageKind::Binary, &mut payload)
                    .unwrap(),
                &mut wire,
            );
            assert_eq!(
                wire,
                reference_wire(role, MessageKind::Binary, bad),
                "{bad:?}"
            );
        }
    }
}

#[test]
fn refused_during_a_fragmented_message() {
    for kind in [MessageKind::Binary, MessageKind::Text] {
        let mut conn = server();
        conn.send_fragment(kind, b"first", false).unwrap();
        let queued = conn.pending_transmit().to_vec();
        let mut payload = b"whole".to_vec();
        let result = conn.send_in_place(MessageKind::Binary, &mut payload);
        assert_eq!(
            result.err(),
            Some(SendError::Misuse(Misuse::MessageInProgress))
        );
        let result = conn.send_in_place(MessageKind::Text, &mut payload);
        assert_eq!(
            result.err(),
            Some(SendError::Misuse(Misuse::MessageInProgress))
        );
        // Nothing was added after the first fragment.
        assert_eq!(conn.pending_transmit(), &queued[..]);
        // Once the message is finished, in-place sends work again.
        conn.send_fragment(kind, b"last", true).unwrap();
        let mut wire = Vec::new();
        conn.poll_transmit(&mut wire);
        write_all(
            conn.send_in_place(MessageKind::Binary, &mut payload)
                .unwrap(),
            &mut wire,
        );
        assert!(wire.ends_with(b"\x82\x05whole"));
    }
}

#[test]
fn refused_after_close() {
    for role in [Role::Server, Role::Client] {
        let mut conn = fresh(role);
        conn.close(std::time::Instant::now(), CloseCode::NORMAL, "bye")
            .unwrap();
        let queued = conn.pending_transmit().to_vec();
        let mut payload = b"too late".to_vec();
        for kind in [MessageKind::Binary, MessageKind::Text] {
            let result = conn.send_in_place(kind, &mut payload);
            assert_eq!(result.err(), Some(SendError::Closed));
        }
        assert_eq!(conn.pending_transmit(), &queued[..]);
        assert_eq!(payload, b"too late");
    }
}

// ----- 5. permessage-deflate -----

#[cfg(feature = "deflate")]
mod deflate {
    use super::*;
    use wsproto::{DeflateParams, OsEntropy};

    fn pair() -> (Connection, Connection) {
        let params = DeflateParams::new(15, 15, false, false).expect("valid window bits");
        let server = Connection::with_deflate(
            Role::Server,
            Config::default(),
            params,
            Box::new(OsEntropy::new()),
        );
        let client = Connection::with_deflate(
            Role::Client,
            Config::default(),
            params.mirrored(),
            Box::new(OsEntropy::new()),
        );
        (server, client)
    }

    fn compressible_text(len: usize) -> String {
        "compress me please ".chars().cycle().take(len).collect()
    }

    #[test]
    fn compressible_text_is_compressed_into_the_connection() {
        let (mut server, mut client) = pair();
        assert_eq!(Config::default().deflate.min_compress_len, 32);
        let text = compressible_text(1000);
        let mut payload = text.clone().into_bytes();
        let mut wire = Vec::new();
        {
            let out = server
                .send_in_place(MessageKind::Text, &mut payload)
                .unwrap();
            let [pending, rest] = out.chunks();
            assert!(rest.is_empty(), "compressed: no payload left in place");
            assert!(pending.len() < 1000 / 2, "{} bytes", pending.len());
            assert_eq!(out.remaining(), pending.len());
            write_all(out, &mut wire);
        }
        assert!(server.pending_transmit().is_empty());
        assert_eq!(wire[0], 0xc1, "FIN, RSV1, text");
        // Server: unmasked.
        assert_eq!(wire[1] & 0x80, 0);
        // The caller's buffer is untouched (a server does not mask).
        assert_eq!(payload, text.as_bytes());

        // The same bytes as send_text on an identical connection.
        let (mut reference, _) = pair();
        reference.send_text(&text).unwrap();
        let mut expected = Vec::new();
        reference.poll_transmit(&mut expected);
        assert_eq!(wire, expected);

        client.recv(&wire);
        assert_eq!(
            client.poll_event(),
            Ok(Some(Event::Text(text.clone().into())))
        );

        // The compressor's window stays in step: a second message, sent
        // in place again, still decodes (context takeover).
        let mut again = text.clone().into_bytes();
        let mut wire = Vec::new();
        write_all(
            server.send_in_place(MessageKind::Text, &mut again).unwrap(),
            &mut wire,
        );
        assert_eq!(wire[0], 0xc1);
        client.recv(&wire);
        assert_eq!(client.poll_event(), Ok(Some(Event::Text(text.into()))));
    }

    #[test]
    fn compressed_in_place_survives_an_early_drop() {
        let (mut server, mut client) = pair();
        let original: Vec<u8> = compressible_text(5000).into_bytes();
        let mut payload = original.clone();
        let mut wire = Vec::new();
        {
            let mut out = server
                .send_in_place(MessageKind::Binary, &mut payload)
                .unwrap();
            assert!(out.chunks()[1].is_empty());
            write_some(&mut out, 3, &mut wire);
        }
        server.poll_transmit(&mut wire);
        assert_eq!(wire[0], 0xc2, "FIN, RSV1, binary");
        client.recv(&wire);
        assert_eq!(
            client.poll_event(),
            Ok(Some(Event::Binary(original.into())))
        );
    }

    #[test]
    fn short_payload_goes_out_uncompressed_in_place() {
        let (mut server, mut client) = pair();
        let min = Config::default().deflate.min_compress_len;
        let text = compressible_text(min - 1);
        let mut payload = text.clone().into_bytes();
        let mut wire = Vec::new();
        {
            let out = server
                .send_in_place(MessageKind::Text, &mut payload)
                .unwrap();
            let [header, rest] = out.chunks();
            assert_eq!(rest, text.as_bytes(), "handed out in place");
            assert_eq!(header.len(), 2);
            write_all(out, &mut wire);
        }
        assert_eq!(wire[0], 0x81, "FIN, text, no RSV1");
        assert_eq!(usize::from(wire[1]), min - 1);
        assert_eq!(&wire[2..], text.as_bytes());
        client.recv(&wire);
        assert_eq!(client.poll_event(), Ok(Some(Event::Text(text.into()))));

        // Exactly min_compress_len is compressed.
        let text = compressible_text(min);
        let mut payload = text.clone().into_bytes();
        let mut wire = Vec::new();
        {
            let out = server
                .send_in_place(MessageKind::Text, &mut payload)
                .unwrap();
            assert!(out.chunks()[1].is_empty());
            write_all(out, &mut wire);
        }
        assert_eq!(wire[0], 0xc1);
        client.recv(&wire);
        assert_eq!(client.poll_event(), Ok(Some(Event::Text(text.into()))));
    }

    #[test]
    fn client_compressed_in_place_reaches_the_server() {
        let (mut server, mut client) = pair();
        let original = compressible_text(2000).into_bytes();
        let mut payload = original.clone();
        let mut wire = Vec::new();
        write_all(
            client
                .send_in_place(MessageKind::Binary, &mut payload)
                .unwrap(),
            &mut wire,
        );
        assert_eq!(wire[0], 0xc2);
        assert_eq!(wire[1] & 0x80, 0x80, "client frames are masked");
        server.recv(&wire);
        assert_eq!(
            server.poll_event(),
            Ok(Some(Event::Binary(original.into())))
        );
    }
}
