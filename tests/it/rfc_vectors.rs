//! The examples of RFC 6455 section 5.7, byte for byte: decoded in the role
//! that receives them (at both receive levels) and produced by the encoder.

#![cfg(feature = "std")]

use crate::common;

use common::*;
use wsproto::{Config, Connection, Control, Event, MessageKind, Role, State};

/// A single-frame unmasked text message "Hello" (server to client).
const UNMASKED_HELLO: [u8; 7] = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
/// A single-frame masked text message "Hello" (client to server).
const MASKED_HELLO: [u8; 11] = [
    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];
/// A fragmented unmasked text message: "Hel" then "lo".
const FRAGMENTED_HEL: [u8; 5] = [0x01, 0x03, 0x48, 0x65, 0x6c];
const FRAGMENTED_LO: [u8; 4] = [0x80, 0x02, 0x6c, 0x6f];
/// An unmasked ping "Hello".
const UNMASKED_PING: [u8; 7] = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
/// The masked pong "Hello" answering it.
const MASKED_PONG: [u8; 11] = [
    0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];
/// A masked ping "Hello" (client to server), same key as the RFC examples.
const MASKED_PING: [u8; 11] = [
    0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
];
/// The unmasked pong "Hello" a server answers with.
const UNMASKED_PONG: [u8; 7] = [0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
const HEADER_256: [u8; 4] = [0x82, 0x7e, 0x01, 0x00];
const HEADER_65536: [u8; 10] = [0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

fn unmasked_binary(header: &[u8], len: usize) -> Vec<u8> {
    [header, &pattern(len)].concat()
}

/// A client whose first masking key is the RFC's `37 fa 21 3d`.
fn rfc_client() -> Connection {
    Connection::with_entropy(
        Role::Client,
        Config::default(),
        Box::new(ScriptedEntropy::new(&RFC_MASK)),
    )
}

fn server() -> Connection {
    connection(Role::Server, Config::default())
}

fn transmitted<L: wsproto::ReceiveLevel>(conn: &mut Connection<L>) -> Vec<u8> {
    let mut out = Vec::new();
    conn.poll_transmit(&mut out);
    out
}

fn data(kind: MessageKind, payload: &[u8], fin: bool) -> Piece {
    Piece::Data {
        kind,
        payload: payload.to_vec(),
        fin,
    }
}

// ----- decoding -----

#[test]
fn client_decodes_the_unmasked_hello_text_frame() {
    let run = run_both(Role::Client, Config::default(), &[&UNMASKED_HELLO]);
    assert_eq!(run.events, vec![text("Hello")]);
    assert_eq!(run.sent, Vec::<u8>::new());
    assert_eq!(run.state, State::Open);
    let stream = run_stream(Role::Client, Config::default(), &[&UNMASKED_HELLO]);
    assert_eq!(stream.pieces, vec![data(MessageKind::Text, b"Hello", true)]);
}

#[test]
fn server_decodes_the_masked_hello_text_frame() {
    let run = run_both(Role::Server, Config::default(), &[&MASKED_HELLO]);
    assert_eq!(run.events, vec![text("Hello")]);
    assert_eq!(run.sent, Vec::<u8>::new());
    assert_eq!(run.state, State::Open);
    let stream = run_stream(Role::Server, Config::default(), &[&MASKED_HELLO]);
    assert_eq!(stream.pieces, vec![data(MessageKind::Text, b"Hello", true)]);
}

#[test]
fn client_decodes_the_fragmented_hel_lo_message_as_one_text() {
    let bytes = [&FRAGMENTED_HEL[..], &FRAGMENTED_LO[..]].concat();
    let run = run_both(Role::Client, Config::default(), &[&bytes]);
    assert_eq!(run.events, vec![text("Hello")]);
    assert_eq!(run.sent, Vec::<u8>::new());
    let stream = run_stream(Role::Client, Config::default(), &[&bytes]);
    assert_eq!(
        stream.pieces,
        vec![
            data(MessageKind::Text, b"Hel", false),
            data(MessageKind::Text, b"lo", true),
        ]
    );
}

#[test]
fn first_fragment_alone_yields_no_message_event() {
    let run = run_both(Role::Client, Config::default(), &[&FRAGMENTED_HEL]);
    assert_eq!(run.events, vec![]);
    let stream = run_stream(Role::Client, Config::default(), &[&FRAGMENTED_HEL]);
    assert_eq!(stream.pieces, vec![data(MessageKind::Text, b"Hel", false)]);
}

#[test]
fn client_receiving_the_unmasked_ping_sends_the_rfc_masked_pong() {
    let mut client = rfc_client();
    client.recv(&UNMASKED_PING);
    assert_eq!(client.poll_event(), ping(b"Hello").map(Some));
    assert_eq!(client.poll_event(), Ok(None));
    assert_eq!(transmitted(&mut client), MASKED_PONG);

    let mut client = rfc_client().into_streaming();
    let mut buf = UNMASKED_PING;
    let (used, event) = client.recv_in_place(&mut buf).unwrap();
    assert_eq!(used, UNMASKED_PING.len());
    assert_eq!(
        event,
        Some(wsproto::StreamEvent::Control(Control::Ping(
            wsproto::ControlPayload::new(b"Hello").unwrap()
        )))
    );
    assert_eq!(transmitted(&mut client), MASKED_PONG);
}

#[test]
fn server_decodes_the_masked_pong_and_sends_nothing() {
    let run = run_both(Role::Server, Config::default(), &[&MASKED_PONG]);
    assert_eq!(run.events, vec![pong(b"Hello")]);
    assert_eq!(run.sent, Vec::<u8>::new());
    assert_eq!(run.state, State::Open);
}

#[test]
fn server_receiving_a_masked_ping_queues_exactly_the_unmasked_pong() {
    let run = run_both(Role::Server, Config::default(), &[&MASKED_PING]);
    assert_eq!(run.events, vec![ping(b"Hello")]);
    assert_eq!(run.sent, UNMASKED_PONG);
}

#[test]
fn client_decodes_the_256_byte_binary_frame() {
    let bytes = unmasked_binary(&HEADER_256, 256);
    let run = run_both(Role::Client, Config::default(), &[&bytes]);
    assert_eq!(run.events, vec![binary(&pattern(256))]);
    assert_eq!(run.sent, Vec::<u8>::new());
}

#[test]
fn client_decodes_the_65536_byte_binary_frame() {
    let bytes = unmasked_binary(&HEADER_65536, 65536);
    let run = run_both(Role::Client, Config::default(), &[&bytes]);
    assert_eq!(run.events, vec![binary(&pattern(65536))]);
    assert_eq!(run.sent, Vec::<u8>::new());
    let stream = run_stream(Role::Client, Config::default(), &[&bytes]);
    assert_eq!(
        stream.pieces,
        vec![data(MessageKind::Binary, &pattern(65536), true)]
    );
}

#[test]
fn binary_frame_with_missing_last_byte_is_not_yet_a_message() {
    let bytes = unmasked_binary(&HEADER_256, 256);
    let run = run_both(
        Role::Client,
        Config::default(),
        &[&bytes[..bytes.len() - 1]],
    );
    assert_eq!(run.events, vec![]);
    let stream = run_stream(
        Role::Client,
        Config::default(),
        &[&bytes[..bytes.len() - 1]],
    );
    assert_eq!(
        stream.pieces,
        vec![data(MessageKind::Binary, &pattern(255), false)]
    );
}

// ----- encoding -----

#[test]
fn server_send_text_hello_is_the_unmasked_rfc_frame() {
    let mut server = server();
    server.send_text("Hello").unwrap();
    assert_eq!(transmitted(&mut server), UNMASKED_HELLO);
}

#[test]
fn client_send_text_hello_with_key_37fa213d_is_the_masked_rfc_frame() {
    let mut client = rfc_client();
    client.send_text("Hello").unwrap();
    assert_eq!(transmitted(&mut client), MASKED_HELLO);
}

#[test]
fn client_draws_a_fresh_key_for_each_frame() {
    let script = [RFC_MASK, [1, 2, 3, 4]].concat();
    let mut client = Connection::with_entropy(
        Role::Client,
        Config::default(),
        Box::new(ScriptedEntropy::new(&script)),
    );
    client.send_text("Hello").unwrap();
    client.send_text("Hello").unwrap();
    let second = [
        0x81,
        0x85,
        1,
        2,
        3,
        4,
        0x48 ^ 1,
        0x65 ^ 2,
        0x6c ^ 3,
        0x6c ^ 4,
        0x6f ^ 1,
    ];
    assert_eq!(
        transmitted(&mut client),
        [&MASKED_HELLO[..], &second].concat()
    );
}

#[test]
fn server_sends_hel_lo_fragments_as_the_rfc_frames() {
    let mut server = server();
    server
        .send_fragment(MessageKind::Text, b"Hel", false)
        .unwrap();
    server
        .send_fragment(MessageKind::Text, b"lo", true)
        .unwrap();
    assert_eq!(
        transmitted(&mut server),
        [&FRAGMENTED_HEL[..], &FRAGMENTED_LO[..]].concat()
    );
}

#[test]
fn server_send_ping_hello_is_the_unmasked_rfc_ping() {
    let mut server = server();
    server.send_ping(b"Hello").unwrap();
    assert_eq!(transmitted(&mut server), UNMASKED_PING);
}

#[test]
fn client_send_pong_hello_with_key_37fa213d_is_the_masked_rfc_pong() {
    let mut client = rfc_client();
    client.send_pong(b"Hello").unwrap();
    assert_eq!(transmitted(&mut client), MASKED_PONG);
}

#[test]
fn server_send_binary_256_bytes_uses_the_16_bit_length_header() {
    let mut server = server();
    server.send_binary(&pattern(256)).unwrap();
    let out = transmitted(&mut server);
    assert_eq!(out[..4], HEADER_256);
    assert_eq!(out, unmasked_binary(&HEADER_256, 256));
}

#[test]
fn server_send_binary_65536_bytes_uses_the_64_bit_length_header() {
    let mut server = server();
    server.send_binary(&pattern(65536)).unwrap();
    let out = transmitted(&mut server);
    assert_eq!(out[..10], HEADER_65536);
    assert_eq!(out, unmasked_binary(&HEADER_65536, 65536));
}

#[test]
fn client_send_binary_256_bytes_is_masked_behind_the_16_bit_header() {
    let mut client = rfc_client();
    client.send_binary(&pattern(256)).unwrap();
    let out = transmitted(&mut client);
    assert_eq!(out[..8], [0x82, 0xfe, 0x01, 0x00, 0x37, 0xfa, 0x21, 0x3d]);
    assert_eq!(
        out,
        masked_frame(
            true,
            0,
            OP_BINARY,
            &pattern(256),
            RFC_MASK,
            LenEncoding::Minimal
        )
    );
}

#[test]
fn sent_length_encoding_is_minimal_at_every_boundary() {
    let cases: [(usize, &[u8]); 5] = [
        (0, &[0x82, 0x00]),
        (125, &[0x82, 0x7d]),
        (126, &[0x82, 0x7e, 0x00, 0x7e]),
        (65535, &[0x82, 0x7e, 0xff, 0xff]),
        (65536, &HEADER_65536),
    ];
    for (len, expected_header) in cases {
        let mut server = server();
        server.send_binary(&pattern(len)).unwrap();
        let out = transmitted(&mut server);
        assert_eq!(
            &out[..expected_header.len()],
            expected_header,
            "length {len}"
        );
        assert_eq!(out.len(), expected_header.len() + len, "length {len}");
    }
}

#[test]
fn every_rfc_message_sent_by_a_client_is_decoded_by_a_server() {
    let mut client = rfc_client();
    client.send_text("Hello").unwrap();
    client
        .send_fragment(MessageKind::Text, b"Hel", false)
        .unwrap();
    client.send_ping(b"Hello").unwrap();
    client
        .send_fragment(MessageKind::Text, b"lo", true)
        .unwrap();
    client.send_binary(&pattern(256)).unwrap();
    client.send_binary(&pattern(65536)).unwrap();
    client.send_pong(b"Hello").unwrap();
    let wire = transmitted(&mut client);
    let run = run_both(Role::Server, Config::default(), &[&wire]);
    assert_eq!(
        run.events,
        vec![
            text("Hello"),
            ping(b"Hello"),
            text("Hello"),
            binary(&pattern(256)),
            binary(&pattern(65536)),
            pong(b"Hello"),
        ]
    );
    assert_eq!(run.sent, UNMASKED_PONG);
}

#[test]
fn every_rfc_message_sent_by_a_server_is_decoded_by_a_client() {
    let mut server = server();
    server.send_text("Hello").unwrap();
    server
        .send_fragment(MessageKind::Text, b"Hel", false)
        .unwrap();
    server
        .send_fragment(MessageKind::Text, b"lo", true)
        .unwrap();
    server.send_binary(&pattern(65536)).unwrap();
    server.send_ping(b"Hello").unwrap();
    let wire = transmitted(&mut server);
    let mut client = rfc_client();
    client.recv(&wire);
    let mut events = Vec::new();
    while let Some(event) = client.poll_event().unwrap() {
        events.push(event);
    }
    assert_eq!(
        events,
        vec![
            Event::Text("Hello".into()),
            Event::Text("Hello".into()),
            Event::Binary(pattern(65536).into()),
            Event::Control(Control::Ping(
                wsproto::ControlPayload::new(b"Hello").unwrap()
            )),
        ]
    );
    assert_eq!(transmitted(&mut client), MASKED_PONG);
}
