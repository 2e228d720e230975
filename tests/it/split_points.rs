//! Chunking must not matter: every stream of the table is replayed split in
//! two at every point, in 1-, 2-, 3- and 7-byte chunks, at the message level
//! and at the streaming level (pieces reassembled), and must give the same
//! events, final error, transmitted bytes and state as in one chunk. The
//! one-chunk run itself is checked against the expected events and replies.

#![cfg(feature = "std")]

use crate::common;

use common::*;
use wsproto::{Config, ProtocolError, Role};

struct Case {
    name: &'static str,
    role: Role,
    config: Config,
    bytes: Vec<u8>,
    events: Outcome,
    /// `(opcode, unmasked payload)` of the frames sent before any error close.
    replies: Vec<(u8, Vec<u8>)>,
    /// The code of the close frame a protocol error makes the peer send.
    error_close: Option<u16>,
}

fn server(name: &'static str, frames: &[Vec<u8>], events: Outcome) -> Case {
    Case {
        name,
        role: Role::Server,
        config: Config::default(),
        bytes: frames.concat(),
        events,
        replies: vec![],
        error_close: None,
    }
}

fn client(name: &'static str, frames: &[Vec<u8>], events: Outcome) -> Case {
    Case {
        role: Role::Client,
        ..server(name, frames, events)
    }
}

impl Case {
    fn replies(mut self, replies: &[(u8, &[u8])]) -> Self {
        self.replies = replies.iter().map(|(op, p)| (*op, p.to_vec())).collect();
        self
    }

    /// The stream ends in `error`: its close frame is the last one sent.
    fn fails(mut self, error: ProtocolError) -> Self {
        self.events.push(Err(error.into()));
        self.error_close = Some(error.close_code().0);
        self
    }

    fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }
}

fn assert_same(case: &Case, expected: &Run, chunks: &[&[u8]], how: &str) {
    let messages = run_messages(case.role, case.config.clone(), chunks);
    assert_eq!(&messages, expected, "{}: message level, {how}", case.name);
    let stream = run_stream(case.role, case.config.clone(), chunks);
    assert_eq!(
        &stream.run, expected,
        "{}: streaming level, {how}",
        case.name
    );
}

fn check(case: &Case) {
    let bytes = &case.bytes[..];
    let whole = run_messages(case.role, case.config.clone(), &[bytes]);
    assert_eq!(whole.events, case.events, "{}: events", case.name);
    let mut frames = sent_frames(&whole.sent);
    if let Some(code) = case.error_close {
        assert_eq!(sent_close_code(&whole.sent), Some(code), "{}", case.name);
        frames.pop();
    }
    assert_eq!(frames, case.replies, "{}: replies", case.name);

    assert_same(case, &whole, &[bytes], "one chunk");
    for at in 0..=bytes.len() {
        assert_same(
            case,
            &whole,
            &split_at(bytes, at),
            &format!("split at {at}"),
        );
    }
    for size in [1, 2, 3, 7] {
        assert_same(
            case,
            &whole,
            &chunks_of(bytes, size),
            &format!("{size}-byte chunks"),
        );
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

fn c(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    client_frame(fin, opcode, payload)
}

fn s(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    server_frame(fin, opcode, payload)
}

// ----- the RFC 6455 section 5.7 vectors -----

#[test]
fn rfc_vectors_are_decoded_the_same_at_every_split_point() {
    let masked_hello = vec![
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let masked_pong = [&[0x8a][..], &masked_hello[1..]].concat();
    let masked_ping = [&[0x89][..], &masked_hello[1..]].concat();
    let cases = [
        client(
            "unmasked hello",
            &[s(true, OP_TEXT, b"Hello")],
            vec![text("Hello")],
        ),
        server("masked hello", &[masked_hello], vec![text("Hello")]),
        client(
            "fragmented hel-lo",
            &[
                vec![0x01, 0x03, 0x48, 0x65, 0x6c],
                vec![0x80, 0x02, 0x6c, 0x6f],
            ],
            vec![text("Hello")],
        ),
        client(
            "unmasked ping",
            &[s(true, OP_PING, b"Hello")],
            vec![ping(b"Hello")],
        )
        .replies(&[(OP_PONG, b"Hello")]),
        server("masked pong", &[masked_pong], vec![pong(b"Hello")]),
        server("masked ping", &[masked_ping], vec![ping(b"Hello")]).replies(&[(OP_PONG, b"Hello")]),
        client(
            "256-byte binary",
            &[[&[0x82, 0x7e, 0x01, 0x00][..], &pattern(256)].concat()],
            vec![binary(&pattern(256))],
        ),
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn rfc_65536_byte_binary_is_decoded_the_same_at_every_split_point() {
    let header = [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
    check(&client(
        "65536-byte binary",
        &[[&header[..], &pattern(65536)].concat()],
        vec![binary(&pattern(65536))],
    ));
}

// ----- valid multi-frame streams -----

#[test]
fn pings_and_pongs_interleaved_in_fragmented_messages() {
    check(
        &server(
            "interleaved control frames",
            &[
                c(false, OP_TEXT, b"Hel"),
                c(true, OP_PING, b"1"),
                c(false, OP_CONTINUATION, b"lo, "),
                c(true, OP_PONG, b"2"),
                c(true, OP_PING, b""),
                c(true, OP_CONTINUATION, "wörld".as_bytes()),
                c(false, OP_BINARY, &[1, 2]),
                c(true, OP_PING, b"3"),
                c(true, OP_CONTINUATION, &[3]),
                c(true, OP_TEXT, b"last"),
            ],
            vec![
                ping(b"1"),
                pong(b"2"),
                ping(b""),
                text("Hello, wörld"),
                ping(b"3"),
                binary(&[1, 2, 3]),
                text("last"),
            ],
        )
        .replies(&[(OP_PONG, b"1"), (OP_PONG, b""), (OP_PONG, b"3")]),
    );
}

#[test]
fn client_receives_interleaved_unmasked_frames_and_answers_with_masked_pongs() {
    check(
        &client(
            "client interleaved",
            &[
                s(false, OP_BINARY, &pattern(130)),
                s(true, OP_PING, b"ping"),
                s(true, OP_CONTINUATION, b"!"),
                s(true, OP_CLOSE, &close_payload(1001, b"away")),
            ],
            vec![
                ping(b"ping"),
                binary(&[pattern(130), b"!".to_vec()].concat()),
                close(1001, "away"),
            ],
        )
        .replies(&[(OP_PONG, b"ping"), (OP_CLOSE, &[0x03, 0xe9])]),
    );
}

#[test]
fn empty_messages_and_control_frames() {
    check(
        &server(
            "empty messages",
            &[
                c(true, OP_TEXT, b""),
                c(true, OP_BINARY, b""),
                c(true, OP_PING, b""),
                c(true, OP_PONG, b""),
                c(true, OP_TEXT, b""),
                c(true, OP_CLOSE, b""),
            ],
            vec![
                text(""),
                binary(b""),
                ping(b""),
                pong(b""),
                text(""),
                close_empty(),
            ],
        )
        .replies(&[(OP_PONG, b""), (OP_CLOSE, b"")]),
    );
}

#[test]
fn empty_fragments_at_start_middle_and_end() {
    check(
        &server(
            "empty fragments",
            &[
                c(false, OP_TEXT, b""),
                c(false, OP_CONTINUATION, b"a"),
                c(false, OP_CONTINUATION, b""),
                c(true, OP_PING, b"x"),
                c(true, OP_CONTINUATION, b""),
                c(false, OP_BINARY, b""),
                c(true, OP_CONTINUATION, b""),
            ],
            vec![ping(b"x"), text("a"), binary(b"")],
        )
        .replies(&[(OP_PONG, b"x")]),
    );
}

#[test]
fn characters_split_across_fragments() {
    let message = "κόσμε 𝄞!";
    let b = message.as_bytes();
    check(&server(
        "characters split across fragments",
        &[
            c(false, OP_TEXT, &b[..1]),
            c(false, OP_CONTINUATION, &b[1..4]),
            c(false, OP_CONTINUATION, &b[4..13]),
            c(true, OP_CONTINUATION, &b[13..]),
        ],
        vec![text(message)],
    ));
}

#[test]
fn non_minimal_length_encodings() {
    let m = |op, payload: &[u8], enc| masked_frame(true, 0, op, payload, MASK, enc);
    check(&server(
        "non-minimal lengths",
        &[
            m(OP_TEXT, b"Hello", LenEncoding::Force16),
            m(OP_BINARY, b"Hello", LenEncoding::Force64),
            m(OP_TEXT, b"", LenEncoding::Force64),
        ],
        vec![text("Hello"), binary(b"Hello"), text("")],
    ));
}

#[test]
fn bytes_after_a_close_are_ignored() {
    check(
        &server(
            "trailing bytes after close",
            &[
                c(true, OP_TEXT, b"a"),
                c(true, OP_CLOSE, &close_payload(1000, b"bye")),
                c(true, OP_TEXT, b"ignored"),
                vec![0xff, 0xff, 0x00],
            ],
            vec![text("a"), close(1000, "bye")],
        )
        .replies(&[(OP_CLOSE, &[0x03, 0xe8])]),
    );
}

// ----- error streams of the behaviour table -----

#[test]
fn masking_and_reserved_bit_errors() {
    let cases = [
        server(
            "unmasked after a message",
            &[c(true, OP_TEXT, b"ok"), s(true, OP_TEXT, b"no")],
            vec![text("ok")],
        )
        .fails(ProtocolError::UnmaskedFrame),
        client("masked to client", &[c(true, OP_BINARY, b"no")], vec![])
            .fails(ProtocolError::MaskedFrame),
        server(
            "rsv1 on a continuation after a ping",
            &[
                c(false, OP_TEXT, b"a"),
                c(true, OP_PING, b"p"),
                masked_frame(
                    true,
                    0b100,
                    OP_CONTINUATION,
                    b"b",
                    MASK,
                    LenEncoding::Minimal,
                ),
            ],
            vec![ping(b"p")],
        )
        .replies(&[(OP_PONG, b"p")])
        .fails(ProtocolError::ReservedBits(0b100)),
        server(
            "rsv3 on a ping",
            &[masked_frame(
                true,
                0b001,
                OP_PING,
                b"p",
                MASK,
                LenEncoding::Minimal,
            )],
            vec![],
        )
        .fails(ProtocolError::ReservedBits(0b001)),
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn opcode_and_control_frame_errors() {
    let reserved = |op| masked_frame(true, 0, op, b"x", MASK, LenEncoding::Minimal);
    let cases = [
        server(
            "opcode 0xB",
            &[c(true, OP_TEXT, b"ok"), reserved(0xb)],
            vec![text("ok")],
        )
        .fails(ProtocolError::ReservedOpcode(0xb)),
        server("opcode 3", &[reserved(3)], vec![]).fails(ProtocolError::ReservedOpcode(3)),
        server("ping of 126 bytes", &[c(true, OP_PING, &[0; 126])], vec![])
            .fails(ProtocolError::ControlFrameTooLong),
        server(
            "fragmented ping mid-message",
            &[c(false, OP_TEXT, b"a"), c(false, OP_PING, b"p")],
            vec![],
        )
        .fails(ProtocolError::FragmentedControlFrame),
        server(
            "continuation without message",
            &[c(true, OP_CONTINUATION, b"x")],
            vec![],
        )
        .fails(ProtocolError::UnexpectedContinuation),
        server(
            "new text mid-message",
            &[c(false, OP_BINARY, b"a"), c(true, OP_TEXT, b"b")],
            vec![],
        )
        .fails(ProtocolError::ExpectedContinuation),
        server(
            "length with msb set",
            &[header(
                true,
                0,
                OP_BINARY,
                1 << 63,
                Some(MASK),
                LenEncoding::Force64,
            )],
            vec![],
        )
        .fails(ProtocolError::LengthOverflow),
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn utf8_errors() {
    let surrogate = &KOSME_SURROGATE;
    let cases = [
        server(
            "invalid first fragment",
            &[
                c(false, OP_TEXT, surrogate),
                c(true, OP_CONTINUATION, b"never read"),
            ],
            vec![],
        )
        .fails(ProtocolError::InvalidUtf8),
        server(
            "invalid in a later fragment",
            &[
                c(false, OP_TEXT, &surrogate[..SURROGATE_PROOF]),
                c(true, OP_PING, b"p"),
                c(false, OP_CONTINUATION, &surrogate[SURROGATE_PROOF..]),
            ],
            vec![ping(b"p")],
        )
        .replies(&[(OP_PONG, b"p")])
        .fails(ProtocolError::InvalidUtf8),
        server(
            "text ending inside a character",
            &[
                c(false, OP_TEXT, b"ok \xe2\x82"),
                c(true, OP_CONTINUATION, b""),
            ],
            vec![],
        )
        .fails(ProtocolError::InvalidUtf8),
        server(
            "invalid close reason",
            &[c(true, OP_CLOSE, &close_payload(1000, b"\xff"))],
            vec![],
        )
        .fails(ProtocolError::InvalidCloseReason),
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn close_frame_errors() {
    let cases = [
        server("one-byte close", &[c(true, OP_CLOSE, &[0x03])], vec![])
            .fails(ProtocolError::ClosePayloadTooShort),
        server(
            "close code 1005",
            &[
                c(true, OP_TEXT, b"ok"),
                c(true, OP_CLOSE, &close_payload(1005, b"")),
            ],
            vec![text("ok")],
        )
        .fails(ProtocolError::InvalidCloseCode(1005)),
        server(
            "close code 5000",
            &[c(true, OP_CLOSE, &close_payload(5000, b"x"))],
            vec![],
        )
        .fails(ProtocolError::InvalidCloseCode(5000)),
    ];
    for case in &cases {
        check(case);
    }
}

#[test]
fn limit_errors() {
    let cases = [
        server(
            "frame over the limit",
            &[c(true, OP_BINARY, &[1; 101])],
            vec![],
        )
        .config(limits(100, 1000))
        .fails(ProtocolError::FrameTooLong { len: 101, max: 100 }),
        server(
            "message over the limit",
            &[
                c(false, OP_TEXT, b"abcdef"),
                c(true, OP_PING, b"p"),
                c(true, OP_CONTINUATION, b"ghijk"),
            ],
            vec![ping(b"p")],
        )
        .config(limits(100, 10))
        .replies(&[(OP_PONG, b"p")])
        .fails(ProtocolError::MessageTooLong { len: 11, max: 10 }),
        server(
            "message at the limit",
            &[
                c(false, OP_BINARY, b"abcdef"),
                c(true, OP_CONTINUATION, b"ghij"),
            ],
            vec![binary(b"abcdefghij")],
        )
        .config(limits(6, 10)),
    ];
    for case in &cases {
        check(case);
    }
}
