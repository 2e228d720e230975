//! `Connection::recv_bytes`, the streaming level over a `BytesMut`: payload
//! handed out as `Bytes` pointing into the read buffer (no copy), the buffer
//! left with exactly the bytes still to decode, and in everything else (events,
//! replies, state, errors) the same as `recv_in_place`.

#![cfg(feature = "std")]

use crate::common;

use common::*;
use proptest::prelude::*;
use std::ops::Range;
use wsproto::bytes::{Bytes, BytesMut};
use wsproto::{
    BytesEvent, Config, Connection, Control, Event, MessageKind, ProtocolError, Role, Streaming,
};

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

/// The addresses of `buf`'s bytes, taken before a call splits it.
fn addresses(buf: &BytesMut) -> Range<usize> {
    let start = buf.as_ptr() as usize;
    start..start + buf.len()
}

/// Asserts that `payload` lies inside `range` and returns its offset there.
fn offset_in(payload: &Bytes, range: &Range<usize>) -> usize {
    let start = payload.as_ptr() as usize;
    assert!(
        range.start <= start && start + payload.len() <= range.end,
        "payload at {start:#x} (+{}) outside {range:x?}: copied",
        payload.len()
    );
    start - range.start
}

/// A data event's parts, or a panic.
fn data(event: Option<BytesEvent>) -> (MessageKind, Bytes, bool) {
    match event {
        Some(BytesEvent::Data { kind, payload, fin }) => (kind, payload, fin),
        other => panic!("expected data, got {other:?}"),
    }
}

// ----- zero copy -----

#[test]
fn a_masked_frames_payload_is_unmasked_inside_the_read_buffer() {
    let payload = pattern(200);
    let frame = client_frame(true, OP_BINARY, &payload);
    // 2 bytes, a 16-bit length, the key: the payload starts at 8.
    let header_len = frame.len() - payload.len();
    assert_eq!(header_len, 8);
    // The first 3 bytes of the next frame follow.
    let next = client_frame(true, OP_TEXT, b"next");
    let mut buf = BytesMut::from(&[&frame[..], &next[..3]].concat()[..]);
    let range = addresses(&buf);
    let mut server = stream_connection(Role::Server, Config::default());

    let (kind, received, fin) = data(server.recv_bytes(&mut buf).unwrap());
    assert_eq!((kind, fin), (MessageKind::Binary, true));
    assert_eq!(offset_in(&received, &range), header_len);
    assert_eq!(received, payload);
    // Exactly the unconsumed bytes are left, where they were.
    assert_eq!(&buf[..], &next[..3]);
    assert_eq!(buf.as_ptr() as usize, range.start + frame.len());

    // The partial header is taken in; then the rest of the frame completes it.
    assert_eq!(server.recv_bytes(&mut buf), Ok(None));
    assert!(buf.is_empty());
    buf.extend_from_slice(&next[3..]);
    let (kind, text, fin) = data(server.recv_bytes(&mut buf).unwrap());
    assert_eq!(
        (kind, &text[..], fin),
        (MessageKind::Text, &b"next"[..], true)
    );
    assert!(buf.is_empty());
    // The payload keeps its memory alive on its own.
    drop(buf);
    assert_eq!(received, payload);
}

#[test]
fn fragments_on_the_general_path_also_point_into_the_read_buffer() {
    // A 64-bit length keeps the fragments off the whole-message fast path.
    let (first, second) = ("κόσ".as_bytes(), "με".as_bytes());
    let bytes = [
        masked_frame(false, 0, OP_TEXT, first, MASK, LenEncoding::Force64),
        client_frame(true, OP_PING, b"between"),
        masked_frame(true, 0, OP_CONTINUATION, second, MASK, LenEncoding::Force64),
    ]
    .concat();
    let mut buf = BytesMut::from(&bytes[..]);
    let range = addresses(&buf);
    let mut server = stream_connection(Role::Server, Config::default());

    let (kind, piece, fin) = data(server.recv_bytes(&mut buf).unwrap());
    assert_eq!((kind, fin), (MessageKind::Text, false));
    assert_eq!(offset_in(&piece, &range), 14);
    assert_eq!(piece, first);
    let ping = server.recv_bytes(&mut buf).unwrap();
    let Some(BytesEvent::Control(Control::Ping(p))) = ping else {
        panic!("{ping:?}")
    };
    assert_eq!(&p[..], b"between");
    let (kind, piece, fin) = data(server.recv_bytes(&mut buf).unwrap());
    assert_eq!((kind, fin), (MessageKind::Text, true));
    assert_eq!(offset_in(&piece, &range), bytes.len() - second.len());
    assert_eq!(piece, second);
    assert_eq!(server.recv_bytes(&mut buf), Ok(None));
    assert!(buf.is_empty());
}

// ----- a driver comparable with `common::run_stream` -----

/// Appends each chunk to one `BytesMut` and drains `recv_bytes` until
/// `None`; reassembles messages into a [`Run`] like `run_stream`'s (events,
/// error, replies, state). Also returns the data pieces as handed out.
fn run_bytes(mut conn: Connection<Streaming>, chunks: &[&[u8]]) -> (Run, Vec<Bytes>) {
    let mut buf = BytesMut::new();
    let (mut events, mut sent, mut pieces) = (vec![], vec![], vec![]);
    let mut message: Option<(MessageKind, Vec<u8>)> = None;
    'chunks: for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let event = match conn.recv_bytes(&mut buf) {
                Ok(Some(event)) => event,
                Ok(None) => {
                    assert!(buf.is_empty(), "None with {} bytes left", buf.len());
                    break;
                }
                Err(error) => {
                    events.push(Err(error));
                    // Sticky, even for a valid frame.
                    let mut more = BytesMut::from(&client_frame(true, OP_TEXT, b"x")[..]);
                    assert_eq!(conn.recv_bytes(&mut more), Err(error));
                    break 'chunks;
                }
            };
            match event {
                BytesEvent::Data { kind, payload, fin } => {
                    let (current, bytes) = message.get_or_insert_with(|| (kind, vec![]));
                    assert_eq!(*current, kind, "the kind changed within a message");
                    bytes.extend_from_slice(&payload);
                    pieces.push(payload);
                    if fin {
                        let (kind, bytes) = message.take().expect("in progress");
                        events.push(Ok(match kind {
                            MessageKind::Text => {
                                Event::Text(String::from_utf8(bytes).unwrap().into())
                            }
                            MessageKind::Binary => Event::Binary(bytes.into()),
                        }));
                    }
                }
                BytesEvent::Control(Control::Ping(p)) => {
                    events.push(Ok(Event::Control(Control::Ping(p))))
                }
                BytesEvent::Control(Control::Pong(p)) => {
                    events.push(Ok(Event::Control(Control::Pong(p))))
                }
                BytesEvent::Control(Control::Close(frame)) => {
                    events.push(Ok(Event::Control(Control::Close(frame))))
                }
                other => panic!("unknown event {other:?}"),
            }
        }
        conn.poll_transmit(&mut sent);
    }
    conn.poll_transmit(&mut sent);
    let state = conn.state();
    (
        Run {
            events,
            sent,
            state,
        },
        pieces,
    )
}

/// Text, binary, a ping, "κόσμε" in two fragments cut inside a character
/// with a pong between, the peer's close, then bytes that must be ignored.
fn conversation() -> (Vec<u8>, Outcome) {
    let kosme = "κόσμε".as_bytes();
    let bytes = concat(&[
        client_frame(true, OP_TEXT, b"Hello"),
        client_frame(true, OP_BINARY, &pattern(300)),
        client_frame(true, OP_PING, b"are you there"),
        client_frame(false, OP_TEXT, &kosme[..3]),
        client_frame(true, OP_PONG, b"late pong"),
        client_frame(true, OP_CONTINUATION, &kosme[3..]),
        client_frame(true, OP_CLOSE, &close_payload(1000, b"bye")),
        vec![0xff; 9],
    ]);
    let expected = vec![
        text("Hello"),
        binary(&pattern(300)),
        ping(b"are you there"),
        pong(b"late pong"),
        text("κόσμε"),
        close(1000, "bye"),
    ];
    (bytes, expected)
}

proptest! {
    // 256 cases unless PROPTEST_CASES says otherwise.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_chunks_give_the_same_events_and_replies_as_recv_in_place(
        cuts in proptest::collection::vec(any::<usize>(), 0..30),
    ) {
        let (bytes, expected) = conversation();
        let chunks = cut_at(&bytes, &cuts);
        let (run, _) = run_bytes(stream_connection(Role::Server, Config::default()), &chunks);
        prop_assert_eq!(&run.events, &expected);
        // The pong and the close echo are queued, as `recv_in_place` does.
        let frames = sent_frames(&run.sent);
        let opcodes: Vec<u8> = frames.iter().map(|(op, _)| *op).collect();
        prop_assert_eq!(opcodes, vec![OP_PONG, OP_CLOSE]);
        prop_assert_eq!(&frames[0].1, b"are you there");
        prop_assert_eq!(&frames[1].1[..2], &1000u16.to_be_bytes());
        let reference = run_stream(Role::Server, Config::default(), &[&bytes]);
        prop_assert_eq!(run, reference.run);
    }
}

#[test]
fn the_conversation_in_one_piece_matches_recv_in_place_before_anything_is_sent() {
    // `pending_transmit` after the close, without `poll_transmit` first.
    let (bytes, _) = conversation();
    let mut by_bytes = stream_connection(Role::Server, Config::default());
    let mut buf = BytesMut::from(&bytes[..]);
    let mut count = 0;
    while by_bytes.recv_bytes(&mut buf).unwrap().is_some() {
        count += 1;
    }
    // Hello, binary, ping, two text pieces around the pong, close.
    assert_eq!(count, 7);
    let mut in_place = stream_connection(Role::Server, Config::default());
    let mut input = bytes.clone();
    let mut at = 0;
    loop {
        let (used, event) = in_place.recv_in_place(&mut input[at..]).unwrap();
        at += used;
        if event.is_none() {
            break;
        }
    }
    assert!(!by_bytes.pending_transmit().is_empty());
    assert_eq!(by_bytes.pending_transmit(), in_place.pending_transmit());
    assert_eq!(by_bytes.state(), in_place.state());
}

// ----- permessage-deflate -----

#[cfg(feature = "deflate")]
#[test]
fn compressed_messages_come_out_inflated_and_intact() {
    use wsproto::DeflateParams;
    let params = DeflateParams::new(15, 15, false, false).expect("valid window bits");
    let entropy = || Box::new(ScriptedEntropy::xorshift());
    let mut client = Connection::with_deflate(Role::Client, Config::default(), params, entropy());
    let server = || {
        Connection::with_deflate(
            Role::Server,
            Config::default(),
            params.mirrored(),
            entropy(),
        )
        .into_streaming()
    };
    // Over 16 KiB inflated: handed out in several pieces, some of them
    // consuming no input.
    let long = pattern(100 << 10);
    let short = "compress me ".repeat(10);
    client.send_text(&short).unwrap();
    client.send_binary(&long).unwrap();
    client.send_text(&short).unwrap();
    let mut wire = vec![];
    client.poll_transmit(&mut wire);
    for frame in parse_frames(&wire) {
        assert_eq!(frame.rsv, 0b100, "not compressed: {frame:?}");
    }
    assert!(
        wire.len() < long.len() / 10,
        "{} bytes on the wire",
        wire.len()
    );

    let expected = vec![text(&short), binary(&long), text(&short)];
    for size in [wire.len(), 1000, 7] {
        let chunks = chunks_of(&wire, size);
        let (run, pieces) = run_bytes(server(), &chunks);
        assert_eq!(run.events, expected, "{size}-byte chunks");
        assert!(pieces.len() > 3, "the long message came in one piece");
        assert_eq!(run, run_stream_on(server(), &chunks).run);
    }
}

// ----- errors -----

#[test]
fn protocol_errors_are_those_of_recv_in_place_and_sticky() {
    let ok = client_frame(true, OP_TEXT, b"ok");
    let cases: Vec<(&str, Config, Vec<u8>, ProtocolError)> = vec![
        (
            "unmasked frame",
            Config::default(),
            server_frame(true, OP_TEXT, b"hi"),
            ProtocolError::UnmaskedFrame,
        ),
        (
            "reserved opcode",
            Config::default(),
            client_frame(true, 0x3, b""),
            ProtocolError::ReservedOpcode(3),
        ),
        (
            "invalid UTF-8 in a non-final fragment",
            Config::default(),
            client_frame(false, OP_TEXT, &KOSME_SURROGATE),
            ProtocolError::InvalidUtf8,
        ),
        (
            "close code 1005",
            Config::default(),
            client_frame(true, OP_CLOSE, &close_payload(1005, b"")),
            ProtocolError::InvalidCloseCode(1005),
        ),
        (
            "frame over the limit",
            limits(10, 100),
            client_frame(true, OP_BINARY, &[0; 11]),
            ProtocolError::FrameTooLong { len: 11, max: 10 },
        ),
    ];
    for (name, config, bad, error) in cases {
        let bytes = concat(&[ok.clone(), bad]);
        for chunks in [vec![&bytes[..]], chunks_of(&bytes, 1), split_at(&bytes, 5)] {
            let (run, _) = run_bytes(stream_connection(Role::Server, config.clone()), &chunks);
            assert_eq!(run.events, vec![text("ok"), Err(error.into())], "{name}");
            // The failure's close frame, as `recv_in_place` queues it.
            assert_eq!(sent_close_code(&run.sent), Some(error.close_code().0));
            assert_eq!(run, run_stream(Role::Server, config.clone(), &chunks).run);
        }
    }
}
