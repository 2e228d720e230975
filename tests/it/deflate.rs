//! permessage-deflate (RFC 7692) behaviour: the RFC's examples, fragmented
//! and uncompressed messages, the rules for RSV1, invalid data, bombs, and
//! negotiation through the handshakes.
#![cfg(feature = "deflate")]

use crate::common;

use common::deflate_audit::Auditor;
use common::deflate_bits::{bomb, far_back};
use common::*;
use flate2::{Compress, Compression, FlushCompress};
use wsproto::handshake::{
    Accept, BuildError, ClientHandshake, ClientRequest, Extension, ResponseErrorKind,
    ServerHandshake,
};
use wsproto::{
    Config, Connection, ConnectionError, Control, DeflateParams, Event, MessageKind, ProtocolError,
    Role, State, StreamEvent,
};

const RSV1: u8 = 0b100;

fn params(own: u8, peer: u8, own_nct: bool, peer_nct: bool) -> DeflateParams {
    DeflateParams::new(own, peer, own_nct, peer_nct).expect("valid window bits")
}

fn deflating(role: Role, config: Config, params: DeflateParams) -> Connection {
    Connection::with_deflate(role, config, params, Box::new(ScriptedEntropy::xorshift()))
}

/// A connection with the default parameters: 15-bit windows both ways,
/// context takeover both ways.
fn deflating_15(role: Role, config: Config) -> Connection {
    deflating(role, config, params(15, 15, false, false))
}

/// Compresses `data` as one RFC 7692 message with an independent
/// compressor: sync flush, tail stripped.
fn compress(data: &[u8]) -> Vec<u8> {
    let mut compress = Compress::new_with_window_bits(Compression::default(), false, 15);
    let mut out = Vec::with_capacity(data.len() + 64);
    compress
        .compress_vec(data, &mut out, FlushCompress::Sync)
        .unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// A compressed client frame (RSV1 when `first`).
fn client_rsv1(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    masked_frame(fin, RSV1, opcode, payload, MASK, LenEncoding::Minimal)
}

/// Runs `chunks` into a server with permessage-deflate (default params) at
/// both levels, every split point of the whole input too.
fn serve_at_every_split(bytes: &[u8], config: Config) -> Run {
    let make = || deflating_15(Role::Server, config.clone());
    let whole = run_both_on(&make, &[bytes]);
    for at in 0..=bytes.len() {
        assert_eq!(
            run_both_on(&make, &split_at(bytes, at)),
            whole,
            "split at {at}"
        );
    }
    whole
}

#[test]
fn rfc_7692_examples_decode_at_both_levels_and_every_split() {
    // Section 7.2.3.1, 7.2.3.2 (a match into the previous message), 7.2.3.3
    // (a stored block) and 7.2.3.4 (BFINAL set).
    let payloads: [&[u8]; 4] = [
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
        &[0xf2, 0x00, 0x11, 0x00, 0x00],
        &[
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ],
        &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
    ];
    let bytes = concat(&payloads.map(|p| client_rsv1(true, OP_TEXT, p)));
    let run = serve_at_every_split(&bytes, Config::default());
    assert_eq!(run.events, vec![text("Hello"); 4]);
    assert_eq!(run.state, State::Open);
}

#[test]
fn a_fragmented_compressed_message_with_a_ping_between_fragments() {
    let message = "a fragmented, compressed, fragmented, compressed message";
    let payload = compress(message.as_bytes());
    let (a, rest) = payload.split_at(5);
    let (b, c) = rest.split_at(rest.len() / 2);
    let bytes = concat(&[
        client_rsv1(false, OP_TEXT, a),
        client_frame(true, OP_PING, b"mid"),
        client_frame(false, OP_CONTINUATION, b),
        client_frame(false, OP_CONTINUATION, &[]),
        client_frame(true, OP_CONTINUATION, c),
    ]);
    let run = serve_at_every_split(&bytes, Config::default());
    assert_eq!(run.events, vec![ping(b"mid"), text(message)]);
    // The pong is not compressed: control frames never are.
    assert_eq!(sent_frames(&run.sent), vec![(OP_PONG, b"mid".to_vec())]);
    assert_eq!(parse_frames(&run.sent)[0].rsv, 0);
}

#[test]
fn rsv1_only_on_the_first_frame_of_a_data_message() {
    let payload = compress(b"Hello");
    let config = Config::default();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "continuation",
            concat(&[
                client_rsv1(false, OP_TEXT, &payload),
                client_rsv1(true, OP_CONTINUATION, &[]),
            ]),
        ),
        ("ping", client_rsv1(true, OP_PING, b"")),
        (
            "close",
            client_rsv1(true, OP_CLOSE, &close_payload(1000, b"")),
        ),
        (
            "RSV2",
            masked_frame(true, 0b010, OP_BINARY, &payload, MASK, LenEncoding::Minimal),
        ),
    ];
    for (what, bytes) in cases {
        let make = || deflating_15(Role::Server, config.clone());
        let run = run_both_on(&make, &[&bytes]);
        let error = run.events.last().cloned().and_then(Result::err);
        assert!(
            matches!(
                error,
                Some(ConnectionError::Protocol(ProtocolError::ReservedBits(_)))
            ),
            "{what}: {:?}",
            run.events
        );
        assert_eq!(sent_close_code(&run.sent), Some(1002), "{what}");
    }
    // Without permessage-deflate RSV1 is refused everywhere.
    assert_fails(
        Role::Server,
        config,
        &[&client_rsv1(true, OP_TEXT, &payload)],
        vec![],
        ProtocolError::ReservedBits(RSV1),
        1002,
    );
}

#[test]
fn invalid_compressed_data_closes_1007_for_text_and_1002_for_binary() {
    // BTYPE 11 is reserved; a stored block whose NLEN does not match; a
    // distance before the start of the stream.
    let far_back = far_back();
    let invalid: [&[u8]; 3] = [&[0x06], &[0x00, 0x05, 0x00, 0x00, 0x00], &far_back];
    for payload in invalid {
        for (opcode, kind, code) in [
            (OP_TEXT, MessageKind::Text, 1007),
            (OP_BINARY, MessageKind::Binary, 1002),
        ] {
            let make = || deflating_15(Role::Server, Config::default());
            let bytes = concat(&[
                client_rsv1(true, opcode, payload),
                client_frame(true, OP_TEXT, b"after"),
            ]);
            let run = run_both_on(&make, &[&bytes]);
            let error = ProtocolError::InvalidCompressedData(kind);
            assert_eq!(run.events, vec![Err(error.into())], "{payload:02x?}");
            assert_eq!(error.close_code().0, code);
            assert_eq!(sent_close_code(&run.sent), Some(code));
            assert_eq!(run.state, State::Closed);
        }
    }
}

#[test]
fn inflated_text_must_be_utf8_even_across_pieces() {
    let mut bad = "κόσμε".as_bytes().to_vec();
    bad.extend_from_slice(&[0xed, 0xa0, 0x80]); // a surrogate
    let bytes = client_rsv1(true, OP_TEXT, &compress(&bad));
    let make = || deflating_15(Role::Server, Config::default());
    let run = run_both_on(&make, &[&bytes]);
    assert_eq!(run.events, vec![Err(ProtocolError::InvalidUtf8.into())]);
    assert_eq!(sent_close_code(&run.sent), Some(1007));
}

#[test]
fn the_bomb_generator_makes_what_it_says() {
    let payload = bomb(1000);
    let mut auditor = Auditor::new();
    let inflated = auditor.message(&payload).expect("a valid stream");
    assert_eq!(inflated, vec![0u8; 1 + 258 * 1000]);
    assert!(payload.len() < 600, "{} bytes", payload.len());
}

#[test]
fn a_small_bomb_is_stopped_at_max_message_len_with_1009() {
    // 1 KB inflating to 1 MB, against a 64 KiB limit.
    let payload = bomb(4000);
    assert!(payload.len() < 1100);
    let config = limits(1 << 20, 64 << 10);
    let bytes = client_rsv1(true, OP_BINARY, &payload);
    let make = || deflating_15(Role::Server, config.clone());
    let run = run_both_on(&make, &[&bytes]);
    assert!(
        matches!(
            run.events[..],
            [Err(ConnectionError::Protocol(ProtocolError::MessageTooLong { len, max: 65536 }))] if len > 65536 && len <= 65536 + 32768
        ),
        "{:?}",
        run.events
    );
    assert_eq!(sent_close_code(&run.sent), Some(1009));
    // One byte under the bomb's size passes.
    let exact = 1 + 258 * 4000;
    let make = || deflating_15(Role::Server, limits(1 << 20, exact));
    assert_eq!(
        run_both_on(&make, &[&bytes]).events,
        vec![binary(&vec![0; exact as usize])]
    );
}

#[test]
fn an_uncompressed_message_between_compressed_ones_keeps_the_windows_in_step() {
    let mut config = Config::default();
    config.deflate.min_compress_len = 32;
    let mut client = deflating_15(Role::Client, config.clone());
    let mut server = deflating_15(Role::Server, config);
    let long = "the quick brown fox jumps over the lazy dog, twice: the quick brown fox";
    let messages = [long, "short", long, "", long];
    for message in messages {
        client.send_text(message).unwrap();
    }
    let mut wire = Vec::new();
    client.poll_transmit(&mut wire);
    let frames = parse_frames(&wire);
    let compressed: Vec<bool> = frames.iter().map(|f| f.rsv == RSV1).collect();
    assert_eq!(compressed, [true, false, true, false, true]);
    // The repeats are matches into the first message: a few bytes each.
    assert!(
        frames[2].payload.len() < 10 && frames[4].payload.len() < 10,
        "{frames:?}"
    );
    server.recv(&wire);
    for message in messages {
        assert_eq!(server.poll_event(), Ok(Some(Event::Text(message.into()))));
    }
}

#[test]
fn fragmented_sends_are_compressed_as_one_message() {
    let mut client = deflating_15(Role::Client, Config::default());
    let mut server = deflating_15(Role::Server, Config::default());
    client
        .send_fragment(MessageKind::Text, "ab".as_bytes(), false)
        .unwrap();
    client.send_ping(b"p").unwrap();
    client
        .send_fragment(MessageKind::Text, "κό".as_bytes(), false)
        .unwrap();
    client
        .send_fragment(MessageKind::Text, "abab".as_bytes(), true)
        .unwrap();
    client
        .close(std::time::Instant::now(), wsproto::CloseCode::NORMAL, "")
        .unwrap();
    let mut wire = Vec::new();
    client.poll_transmit(&mut wire);
    let rsv: Vec<(u8, u8)> = parse_frames(&wire)
        .iter()
        .map(|f| (f.opcode, f.rsv))
        .collect();
    assert_eq!(
        rsv,
        [
            (OP_TEXT, RSV1),
            (OP_PING, 0),
            (OP_CONTINUATION, 0),
            (OP_CONTINUATION, 0),
            (OP_CLOSE, 0)
        ]
    );
    server.recv(&wire);
    assert_eq!(
        server.poll_event(),
        Ok(Some(Event::Control(Control::Ping(
            wsproto::ControlPayload::new(b"p").unwrap()
        ))))
    );
    assert_eq!(
        server.poll_event(),
        Ok(Some(Event::Text("abκόabab".into())))
    );
}

#[test]
fn the_streaming_level_hands_out_a_large_message_in_bounded_pieces() {
    let message = vec![7u8; 1 << 20];
    let bytes = client_rsv1(true, OP_BINARY, &compress(&message));
    assert!(bytes.len() < 2000);
    let mut server = deflating_15(Role::Server, Config::default()).into_streaming();
    let mut buf = bytes.clone();
    let (mut at, mut received, mut pieces, mut largest) = (0, Vec::new(), 0, 0);
    loop {
        let (used, event) = server.recv_in_place(&mut buf[at..]).unwrap();
        at += used;
        match event {
            Some(StreamEvent::Data { kind, payload, fin }) => {
                assert_eq!(kind, MessageKind::Binary);
                largest = largest.max(payload.len());
                received.extend_from_slice(payload);
                pieces += 1;
                if fin {
                    break;
                }
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(at, bytes.len());
    assert!(received == message);
    assert_eq!(largest, 16 << 10);
    assert!(pieces >= 64, "{pieces} pieces");
}

#[test]
fn window_sizes_negotiated_are_used_by_the_compressor() {
    // Repeats at every distance up to 40 KiB: a compressor free to use a
    // 32 KiB window reaches far back.
    let mut data = Vec::new();
    let mut seed = 1u32;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        data.push(b'a' + (seed % 8) as u8);
    }
    let data = data.repeat(2);
    for bits in 8..=15u8 {
        let mut config = Config::default();
        config.deflate.level = 9;
        let mut client = deflating(Role::Client, config, params(bits, 15, false, false));
        let mut auditor = Auditor::new();
        for _ in 0..3 {
            client.send_binary(&data).unwrap();
            let mut wire = Vec::new();
            client.poll_transmit(&mut wire);
            let frame = &parse_frames(&wire)[0];
            assert_eq!(frame.rsv, RSV1);
            assert!(auditor.message(&frame.payload).unwrap() == data);
        }
        let window = 1usize << bits;
        assert!(
            auditor.max_distance() <= window,
            "{bits} bits: distance {} > {window}",
            auditor.max_distance()
        );
        // And the window is used, not just respected (zlib keeps 262 bytes
        // of lookahead, and makes 8 bits with a 9-bit window).
        let reach = (1usize << bits.max(9)) - 262;
        assert!(
            auditor.max_distance() > reach / 2,
            "{bits} bits: {}",
            auditor.max_distance()
        );
    }
}

#[test]
fn no_context_takeover_empties_the_window_between_messages() {
    let message = b"no context takeover means every message starts afresh";
    for nct in [false, true] {
        let mut client = deflating(Role::Client, Config::default(), params(15, 15, nct, false));
        let mut auditor = Auditor::new();
        let mut sizes = Vec::new();
        for _ in 0..3 {
            client.send_binary(message).unwrap();
            let mut wire = Vec::new();
            client.poll_transmit(&mut wire);
            let payload = &parse_frames(&wire)[0].payload;
            sizes.push(payload.len());
            assert!(auditor.message(payload).unwrap() == message);
            if nct {
                auditor.reset(); // a match into the last message would now fail
            }
        }
        assert_eq!(sizes[1] == sizes[0], nct, "{sizes:?}");
    }
}

/// A client and server handshake with these configurations; returns both
/// connections, or the client's error kind.
fn handshake(
    client_config: &Config,
    server_config: &Config,
) -> Result<(Connection, Connection, Option<String>), ResponseErrorKind> {
    let request = ClientRequest::new("ws://example.com/").unwrap();
    let mut client = ClientHandshake::with_entropy(
        &request,
        client_config.clone(),
        Box::new(ScriptedEntropy::xorshift()),
    )
    .unwrap();
    let mut server = ServerHandshake::new(server_config);
    let offer = server.recv(client.request_bytes()).unwrap().unwrap();
    let response = offer.accept(&Accept::new()).unwrap();
    let answer = response
        .headers()
        .get_str("Sec-WebSocket-Extensions")
        .map(str::to_owned);
    let upgraded = client
        .recv(&response.to_bytes())
        .map_err(|e| e.kind())?
        .unwrap();
    assert_eq!(upgraded.deflate(), offer.deflate().map(|p| p.mirrored()));
    Ok((
        upgraded.into_connection(),
        offer.into_connection(server_config.clone()),
        answer,
    ))
}

fn deflate_config(edit: impl Fn(&mut wsproto::DeflateConfig)) -> Config {
    let mut config = Config::default();
    config.deflate.enabled = true;
    edit(&mut config.deflate);
    config
}

#[test]
fn handshakes_negotiate_by_their_configurations() {
    let on = deflate_config(|_| {});
    let cases: Vec<(Config, Config, Option<&str>, Option<DeflateParams>)> = vec![
        (
            on.clone(),
            on.clone(),
            Some("permessage-deflate"),
            Some(params(15, 15, false, false)),
        ),
        (Config::default(), on.clone(), None, None),
        (on.clone(), Config::default(), None, None),
        (
            deflate_config(|d| {
                d.max_window_bits = 10;
                d.peer_no_context_takeover = true;
            }),
            on.clone(),
            Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=10"),
            Some(params(10, 15, false, true)),
        ),
        (
            deflate_config(|d| d.peer_max_window_bits = 8),
            deflate_config(|d| {
                d.peer_max_window_bits = 12;
                d.no_context_takeover = true;
            }),
            Some(
                "permessage-deflate; server_max_window_bits=8; server_no_context_takeover; client_max_window_bits=12",
            ),
            Some(params(12, 8, false, true)),
        ),
    ];
    for (client_config, server_config, answer, client_params) in cases {
        let (mut client, mut server, answered) = handshake(&client_config, &server_config).unwrap();
        assert_eq!(answered.as_deref(), answer);
        assert_eq!(client.deflate(), client_params);
        // Messages cross both ways, compressed or not.
        for round in 0..3 {
            let text = format!(
                "round {round}: {}",
                "a compressible sentence ".repeat(round + 2)
            );
            client.send_text(&text).unwrap();
            server.send_binary(text.as_bytes()).unwrap();
            let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
            client.poll_transmit(&mut to_server);
            server.poll_transmit(&mut to_client);
            assert_eq!(
                parse_frames(&to_server)[0].rsv == RSV1,
                client_params.is_some()
            );
            server.recv(&to_server);
            client.recv(&to_client);
            assert_eq!(
                server.poll_event(),
                Ok(Some(Event::Text(text.clone().into())))
            );
            assert_eq!(
                client.poll_event(),
                Ok(Some(Event::Binary(text.into_bytes().into())))
            );
        }
    }
}

#[test]
fn a_hand_made_permessage_deflate_is_refused_in_both_roles() {
    let by_hand = Extension::new("permessage-deflate").unwrap();
    let request = ClientRequest::new("ws://example.com/")
        .unwrap()
        .extension(by_hand.clone());
    assert_eq!(
        ClientHandshake::new(&request, Config::default()).err(),
        Some(BuildError::InvalidExtension("permessage-deflate".into()))
    );
    let mut server = ServerHandshake::new(&Config::default());
    let offer = server
        .recv(
            b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        )
        .unwrap()
        .unwrap();
    assert_eq!(offer.deflate(), None, "off by default");
    assert_eq!(
        offer.accept(&Accept::new().extension(by_hand)),
        Err(BuildError::InvalidExtension("permessage-deflate".into()))
    );
}

#[test]
fn the_client_refuses_answers_its_offer_does_not_allow() {
    let config = deflate_config(|d| d.peer_max_window_bits = 10);
    let request = ClientRequest::new("ws://example.com/").unwrap();
    for (answer, accepted) in [
        ("permessage-deflate; server_max_window_bits=10", true),
        (
            "permessage-deflate; server_max_window_bits=9; client_max_window_bits=8",
            true,
        ),
        ("permessage-deflate", false),
        ("permessage-deflate; server_max_window_bits=11", false),
        (
            "permessage-deflate; server_max_window_bits=10; client_max_window_bits",
            false,
        ),
        ("permessage-deflate; server_max_window_bits=10; x=1", false),
        (
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            false,
        ),
    ] {
        let mut client = ClientHandshake::with_entropy(
            &request,
            config.clone(),
            Box::new(ScriptedEntropy::new(b"the sample nonce")),
        )
        .unwrap();
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: {answer}\r\n\r\n"
        );
        match client.recv(response.as_bytes()) {
            Ok(Some(upgraded)) => {
                assert!(accepted, "{answer}");
                assert!(upgraded.deflate().is_some());
            }
            Err(error) => {
                assert!(!accepted, "{answer}: {error}");
                assert_eq!(
                    error.kind(),
                    ResponseErrorKind::InvalidExtensionParams,
                    "{answer}"
                );
            }
            Ok(None) => panic!("incomplete"),
        }
    }
}

#[test]
fn a_peer_reaching_past_its_promised_window_is_decoded_the_same_at_every_split() {
    // Promised 9 bits (512 bytes), compressed with 15: matches 1000 back.
    let mut seed = 7u32;
    let block: Vec<u8> = (0..1000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        })
        .collect();
    let data = block.repeat(3);
    let bytes = client_rsv1(true, OP_BINARY, &compress(&data));
    let make = || deflating(Role::Server, Config::default(), params(15, 9, false, false));
    let whole = run_both_on(&make, &[&bytes]);
    assert_eq!(whole.events, vec![binary(&data)]);
    for at in (0..=bytes.len()).step_by(37) {
        assert_eq!(
            run_both_on(&make, &split_at(&bytes, at)),
            whole,
            "split at {at}"
        );
    }
}

/// Found by the deflate fuzz target: faults are reported in stream order
/// whatever the split, at both levels.
#[test]
fn faults_come_in_stream_order_at_every_split() {
    let client = |config: Config| move || deflating_15(Role::Client, config.clone());
    // A 0xff literal, then an invalid code: the text is already invalid.
    let bytes = [0xc1, 0x03, 0xfa, 0x3f, 0x06];
    // 0xff, then 40 "a": invalid before it is too long for a 10-byte limit.
    let long = [0xc1, 0x06, 0xfa, 0x9f, 0x48, 0x24, 0x00, 0x00];
    for (bytes, config) in [
        (&bytes[..], Config::default()),
        (&long[..], limits(1 << 20, 10)),
    ] {
        let make = client(config);
        for at in 0..=bytes.len() {
            let run = run_both_on(&make, &split_at(bytes, at));
            assert_eq!(
                run.events,
                vec![Err(ProtocolError::InvalidUtf8.into())],
                "split at {at}"
            );
        }
        let run = run_both_on(&make, &chunks_of(bytes, 1));
        assert_eq!(run.events, vec![Err(ProtocolError::InvalidUtf8.into())]);
    }
}

/// Found by the deflate fuzz target: a message whose data stops inside a
/// match that did not fit the output keeps all its bytes (zlib holds the
/// rest until called again), at both levels and every split.
#[test]
fn a_match_cut_by_a_full_output_stays_in_its_message() {
    let mut bytes = vec![
        0xc2, 0x42, 0xec, 0xc1, 0x01, 0x0d, 0x00, 0x00, 0x00, 0xc2, 0xa0, 0xae, 0xef, 0x1f, 0xc2,
        0x1e, 0x0e, 0x28, 0x00, 0x00, 0x00, 0x00,
    ];
    bytes.extend_from_slice(&[0xff; 36]);
    bytes.extend_from_slice(&[0x00; 10]);
    bytes.extend_from_slice(&[0xc2, 0x00, 0xc2, 0x00, 0xc2, 0x00]);
    let make = || deflating_15(Role::Client, Config::default());
    let whole = run_both_on(&make, &[&bytes]);
    let lens: Vec<usize> = whole
        .events
        .iter()
        .map(|e| match e {
            Ok(Event::Binary(data)) => data.len(),
            other => panic!("{other:?}"),
        })
        .collect();
    // What flate2 gives when each message is inflated in one call.
    assert_eq!(lens, [24230, 2234, 2234, 2234]);
    for at in (0..=bytes.len()).step_by(3) {
        assert_eq!(
            run_both_on(&make, &split_at(&bytes, at)),
            whole,
            "split at {at}"
        );
    }
}
