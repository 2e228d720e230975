//! One test per row of the behaviour table of DESIGN.md ("Behaviour tables
//! (fixed)"), plus end of stream. Every input runs at the message level and
//! at the streaming level, which must agree exactly.

#![cfg(feature = "std")]

use crate::common;

use common::*;
use wsproto::{
    CloseCode, Config, Connection, ConnectionError, Initiator, MessageKind, Messages,
    ProtocolError, ReceiveLevel, Role, SendError, State, Streaming,
};

/// [`assert_fails`] for a server given `bytes` in one chunk, which must send
/// nothing but its close frame: exactly `88 len code_hi code_lo reason`.
fn server_fails(bytes: &[u8], error: ProtocolError, code: u16) {
    let run = fails_after(&[bytes], vec![], error, code);
    let sent = &run.sent;
    assert_eq!(sent[0], 0x88, "{sent:02x?}");
    assert_eq!(usize::from(sent[1]), sent.len() - 2, "{sent:02x?}");
    assert_eq!(sent[2..4], code.to_be_bytes(), "{sent:02x?}");
}

/// [`assert_fails`] for a server with the default config.
fn fails_after(chunks: &[&[u8]], before: Outcome, error: ProtocolError, code: u16) -> Run {
    assert_fails(Role::Server, Config::default(), chunks, before, error, code)
}

/// A server with the default config, at both levels.
fn server_run(chunks: &[&[u8]]) -> Run {
    run_both(Role::Server, Config::default(), chunks)
}

fn c(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    client_frame(fin, opcode, payload)
}

fn hello_frame(fin: bool, rsv: u8, opcode: u8) -> Vec<u8> {
    masked_frame(fin, rsv, opcode, b"Hello", MASK, LenEncoding::Minimal)
}

// ----- masking -----

#[test]
fn unmasked_frame_to_a_server_closes_1002() {
    let error = ProtocolError::UnmaskedFrame;
    server_fails(&server_frame(true, OP_TEXT, b"Hello"), error, 1002);
    server_fails(&server_frame(true, OP_PING, b""), error, 1002);
}

#[test]
fn masked_frame_to_a_client_closes_1002_with_a_masked_close() {
    let bytes = c(true, OP_TEXT, b"Hello");
    let error = ProtocolError::MaskedFrame;
    let run = assert_fails(
        Role::Client,
        Config::default(),
        &[&bytes],
        vec![],
        error,
        1002,
    );
    let frames = parse_frames(&run.sent);
    assert_eq!(frames.len(), 1);
    assert!(frames[0].masked, "a client's close frame must be masked");
}

// ----- reserved bits and opcodes -----

#[test]
fn rsv1_without_extension_closes_1002() {
    let error = ProtocolError::ReservedBits(0b100);
    server_fails(&hello_frame(true, 0b100, OP_TEXT), error, 1002);
}

#[test]
fn rsv2_closes_1002() {
    let error = ProtocolError::ReservedBits(0b010);
    server_fails(&hello_frame(true, 0b010, OP_TEXT), error, 1002);
}

#[test]
fn rsv3_closes_1002() {
    let error = ProtocolError::ReservedBits(0b001);
    server_fails(&hello_frame(true, 0b001, OP_TEXT), error, 1002);
}

#[test]
fn every_rsv_combination_on_every_frame_type_closes_1002() {
    for rsv in 1..=0b111 {
        let error = ProtocolError::ReservedBits(rsv);
        for opcode in [OP_TEXT, OP_BINARY, OP_PING, OP_PONG, OP_CLOSE] {
            let payload = if opcode == OP_CLOSE {
                vec![0x03, 0xe8]
            } else {
                vec![]
            };
            let bytes = masked_frame(true, rsv, opcode, &payload, MASK, LenEncoding::Minimal);
            server_fails(&bytes, error, 1002);
        }
        let cont = masked_frame(true, rsv, OP_CONTINUATION, b"b", MASK, LenEncoding::Minimal);
        server_fails(&[c(false, OP_TEXT, b"a"), cont].concat(), error, 1002);
    }
}

#[test]
fn reserved_opcodes_3_to_7_close_1002() {
    for opcode in 3..=7 {
        let error = ProtocolError::ReservedOpcode(opcode);
        server_fails(&hello_frame(true, 0, opcode), error, 1002);
    }
}

#[test]
fn reserved_opcodes_0xb_to_0xf_close_1002() {
    for opcode in 0xb..=0xf {
        let error = ProtocolError::ReservedOpcode(opcode);
        server_fails(&hello_frame(true, 0, opcode), error, 1002);
    }
}

#[test]
fn reserved_opcode_is_refused_from_the_first_byte() {
    for opcode in (3..=7).chain(0xb..=0xf) {
        let error = ProtocolError::ReservedOpcode(opcode);
        server_fails(&hello_frame(true, 0, opcode)[..1], error, 1002);
    }
}

// ----- control frames -----

#[test]
fn control_frame_of_126_bytes_closes_1002() {
    for opcode in [OP_PING, OP_PONG, OP_CLOSE] {
        let bytes = c(true, opcode, &[b'a'; 126]);
        server_fails(&bytes, ProtocolError::ControlFrameTooLong, 1002);
        // Refused as soon as the 16-bit length is known, before the mask
        // and payload (a short length in a long encoding is valid).
        server_fails(&bytes[..4], ProtocolError::ControlFrameTooLong, 1002);
    }
}

#[test]
fn control_frame_of_125_bytes_is_accepted() {
    let payload = [b'p'; 125];
    let run = server_run(&[&c(true, OP_PING, &payload), &c(true, OP_PONG, &payload)]);
    assert_eq!(run.events, vec![ping(&payload), pong(&payload)]);
    assert_eq!(run.sent, server_frame(true, OP_PONG, &payload));
    let reason = "r".repeat(123);
    let run = server_run(&[&c(true, OP_CLOSE, &close_payload(1000, reason.as_bytes()))]);
    assert_eq!(run.events, vec![close(1000, &reason)]);
    assert_eq!(run.sent, [0x88, 0x02, 0x03, 0xe8]);
}

#[test]
fn fragmented_control_frames_close_1002() {
    let error = ProtocolError::FragmentedControlFrame;
    for opcode in [OP_PING, OP_PONG, OP_CLOSE] {
        server_fails(&hello_frame(false, 0, opcode), error, 1002);
    }
    // Also inside a fragmented message.
    let bytes = [c(false, OP_TEXT, b"Hel"), hello_frame(false, 0, OP_PING)].concat();
    server_fails(&bytes, error, 1002);
}

// ----- fragmentation -----

#[test]
fn continuation_without_a_message_closes_1002() {
    let error = ProtocolError::UnexpectedContinuation;
    server_fails(&c(true, OP_CONTINUATION, b"lo"), error, 1002);
    server_fails(&c(false, OP_CONTINUATION, b"lo"), error, 1002);
}

#[test]
fn continuation_after_a_finished_message_closes_1002() {
    let bytes = [c(true, OP_TEXT, b"Hello"), c(true, OP_CONTINUATION, b"!")].concat();
    let error = ProtocolError::UnexpectedContinuation;
    fails_after(&[&bytes], vec![text("Hello")], error, 1002);
}

#[test]
fn new_text_or_binary_frame_mid_message_closes_1002() {
    for first in [OP_TEXT, OP_BINARY] {
        for second in [OP_TEXT, OP_BINARY] {
            for fin in [false, true] {
                let bytes = [c(false, first, b"Hel"), c(fin, second, b"lo")].concat();
                server_fails(&bytes, ProtocolError::ExpectedContinuation, 1002);
            }
        }
    }
}

// ----- UTF-8 -----

#[test]
fn invalid_utf8_in_a_first_fragment_fails_before_the_message_ends() {
    let bytes = c(false, OP_TEXT, &KOSME_SURROGATE);
    server_fails(&bytes, ProtocolError::InvalidUtf8, 1007);
    // No piece of the invalid payload is handed out.
    let stream = run_stream(Role::Server, Config::default(), &[&bytes]);
    assert_eq!(stream.pieces, vec![]);
}

#[test]
fn invalid_utf8_proven_in_a_later_fragment_fails_there() {
    let (first, rest) = KOSME_SURROGATE.split_at(SURROGATE_PROOF);
    let frag1 = c(false, OP_TEXT, first);
    let frag2 = c(false, OP_CONTINUATION, rest);
    // The first fragment ends with ED, a valid prefix: no error yet.
    let run = server_run(&[&frag1]);
    assert_eq!((run.events, run.sent), (vec![], vec![]));
    let stream = run_stream(Role::Server, Config::default(), &[&frag1]);
    let kind = MessageKind::Text;
    let piece = Piece::Data {
        kind,
        payload: first.to_vec(),
        fin: false,
    };
    assert_eq!(stream.pieces, vec![piece]);
    // The second (still not final) fragment proves it invalid.
    fails_after(&[&frag1, &frag2], vec![], ProtocolError::InvalidUtf8, 1007);
}

#[test]
fn invalid_utf8_proven_in_a_later_chunk_fails_before_the_frame_ends() {
    let bytes = c(true, OP_TEXT, &KOSME_SURROGATE);
    let proof = 6 + SURROGATE_PROOF; // 2-byte header + 4-byte mask.
    let run = server_run(&[&bytes[..proof]]);
    assert_eq!((run.events, run.sent), (vec![], vec![]));
    let chunks = [&bytes[..proof], &bytes[proof..=proof]];
    fails_after(&chunks, vec![], ProtocolError::InvalidUtf8, 1007);
}

/// The payload length after which a server fed `payload` (as one text frame
/// with FIN) one byte at a time first reports an error.
fn bytes_until_utf8_error(payload: &[u8]) -> Option<usize> {
    let bytes = c(true, OP_TEXT, payload);
    (0..=payload.len()).find(|&n| {
        let run = server_run(&chunks_of(&bytes[..6 + n], 1));
        run.events == vec![Err(ProtocolError::InvalidUtf8.into())]
    })
}

#[test]
fn invalid_utf8_is_reported_exactly_at_the_proving_byte() {
    let kosme = &KOSME_SURROGATE[..11];
    let cases: [(Vec<u8>, usize); 9] = [
        (KOSME_SURROGATE.to_vec(), SURROGATE_PROOF + 1),
        ([kosme, b"\xf4\x90\x80\x80edited"].concat(), 13), // above U+10FFFF
        ([kosme, b"\xc0\xafedited"].concat(), 12),         // C0 never valid
        ([kosme, b"\xffedited"].concat(), 12),
        (b"\xe0\x80\xaf".to_vec(), 2), // overlong
        (b"\xf0\x80\x80\x80".to_vec(), 2),
        (b"a\xce\x41".to_vec(), 3), // lead byte then ASCII
        (b"\xf5\x80".to_vec(), 1),
        (b"\x80".to_vec(), 1), // lone continuation byte
    ];
    for (payload, at) in cases {
        assert_eq!(bytes_until_utf8_error(&payload), Some(at), "{payload:02x?}");
    }
}

#[test]
fn text_ending_inside_a_character_closes_1007() {
    let cut = &"κόσμε".as_bytes()[..9]; // ends with CE, the lead of "ε"
    server_fails(&c(true, OP_TEXT, cut), ProtocolError::InvalidUtf8, 1007);
    let bytes = [c(false, OP_TEXT, cut), c(true, OP_CONTINUATION, b"")].concat();
    server_fails(&bytes, ProtocolError::InvalidUtf8, 1007);
}

#[test]
fn invalid_utf8_after_a_valid_message_reports_the_message_first() {
    let bytes = [c(true, OP_TEXT, b"ok"), c(true, OP_TEXT, b"\xff")].concat();
    fails_after(
        &[&bytes],
        vec![text("ok")],
        ProtocolError::InvalidUtf8,
        1007,
    );
}

#[test]
fn valid_text_split_mid_character_across_chunks_is_accepted() {
    let message = "κόσμε 𝄞 €!";
    let bytes = c(true, OP_TEXT, message.as_bytes());
    for at in 0..=bytes.len() {
        let run = server_run(&split_at(&bytes, at));
        assert_eq!(run.events, vec![text(message)], "split at {at}");
        assert_eq!(run.sent, Vec::<u8>::new());
    }
}

#[test]
fn valid_text_split_mid_character_across_fragments_is_accepted() {
    let message = "κόσμε 𝄞 €!";
    for at in 0..=message.len() {
        let (a, b) = message.as_bytes().split_at(at);
        let bytes = [c(false, OP_TEXT, a), c(true, OP_CONTINUATION, b)].concat();
        let run = server_run(&[&bytes]);
        assert_eq!(run.events, vec![text(message)], "fragments split at {at}");
    }
}

#[test]
fn invalid_utf8_in_a_close_reason_closes_1007() {
    for reason in [&b"\xff\xfe"[..], b"bye \xce", b"\xed\xa0\x80"] {
        let bytes = c(true, OP_CLOSE, &close_payload(1000, reason));
        server_fails(&bytes, ProtocolError::InvalidCloseReason, 1007);
    }
}

// ----- close frames -----

#[test]
fn close_payload_of_one_byte_closes_1002() {
    let error = ProtocolError::ClosePayloadTooShort;
    server_fails(&c(true, OP_CLOSE, &[0x03]), error, 1002);
}

#[test]
fn forbidden_close_codes_close_1002() {
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        let bytes = c(true, OP_CLOSE, &close_payload(code, b""));
        server_fails(&bytes, ProtocolError::InvalidCloseCode(code), 1002);
    }
}

#[test]
fn valid_close_codes_are_echoed_with_the_same_code() {
    let defined = [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
    ];
    for code in defined.into_iter().chain([3000, 3999, 4000, 4999]) {
        for reason in ["", "bye ✓"] {
            let run = server_run(&[&c(true, OP_CLOSE, &close_payload(code, reason.as_bytes()))]);
            assert_eq!(run.events, vec![close(code, reason)], "code {code}");
            let [hi, lo] = code.to_be_bytes();
            assert_eq!(run.sent, [0x88, 0x02, hi, lo], "echo of {code}");
            assert_eq!(run.state, State::Closed);
        }
    }
}

#[test]
fn empty_close_is_echoed_empty() {
    let run = server_run(&[&c(true, OP_CLOSE, b"")]);
    assert_eq!(run.events, vec![close_empty()]);
    assert_eq!(run.sent, [0x88, 0x00]);
    assert_eq!(run.state, State::Closed);
}

// ----- limits -----

#[test]
fn frame_over_max_frame_len_closes_1009_from_the_header() {
    let config = limits(100, 1000);
    for opcode in [OP_TEXT, OP_BINARY] {
        let head = header(true, 0, opcode, 101, Some(MASK), LenEncoding::Minimal);
        let error = ProtocolError::FrameTooLong { len: 101, max: 100 };
        assert_fails(Role::Server, config.clone(), &[&head], vec![], error, 1009);
    }
    let run = run_both(Role::Server, config, &[&c(true, OP_BINARY, &[7; 100])]);
    assert_eq!(run.events, vec![binary(&[7; 100])]);
}

#[test]
fn huge_announced_frame_closes_1009_with_default_limits() {
    let len = 1 << 62;
    let head = header(true, 0, OP_BINARY, len, Some(MASK), LenEncoding::Minimal);
    let error = ProtocolError::FrameTooLong { len, max: 16 << 20 };
    fails_after(&[&head], vec![], error, 1009);
}

#[test]
fn message_over_max_message_len_across_fragments_closes_1009_from_the_header() {
    let config = limits(100, 10);
    let first = c(false, OP_TEXT, b"abcdef");
    let between = c(true, OP_PING, b"p");
    let head = header(
        true,
        0,
        OP_CONTINUATION,
        5,
        Some(MASK),
        LenEncoding::Minimal,
    );
    let bytes = [first.clone(), between.clone(), head].concat();
    let error = ProtocolError::MessageTooLong { len: 11, max: 10 };
    let before = vec![ping(b"p")];
    let run = assert_fails(Role::Server, config.clone(), &[&bytes], before, error, 1009);
    assert_eq!(sent_frames(&run.sent)[0], (OP_PONG, b"p".to_vec()));
    // Exactly at the limit is fine.
    let last = c(true, OP_CONTINUATION, b"ghij");
    let run = run_both(
        Role::Server,
        config.clone(),
        &[&[first, between, last].concat()],
    );
    assert_eq!(run.events, vec![ping(b"p"), text("abcdefghij")]);
    // A single frame over the message limit (but not the frame limit).
    let head = header(true, 0, OP_BINARY, 11, Some(MASK), LenEncoding::Minimal);
    let error = ProtocolError::MessageTooLong { len: 11, max: 10 };
    assert_fails(Role::Server, config, &[&head], vec![], error, 1009);
}

#[test]
fn length_with_the_most_significant_bit_set_closes_1002() {
    for len in [1 << 63, u64::MAX] {
        let head = header(true, 0, OP_BINARY, len, Some(MASK), LenEncoding::Force64);
        server_fails(&head, ProtocolError::LengthOverflow, 1002);
    }
}

#[test]
fn non_minimal_length_encodings_are_accepted() {
    for encoding in [LenEncoding::Force16, LenEncoding::Force64] {
        for payload in [&b""[..], b"Hello", &[b'x'; 200]] {
            let run = server_run(&[&masked_frame(true, 0, OP_TEXT, payload, MASK, encoding)]);
            let expected = std::str::from_utf8(payload).unwrap();
            assert_eq!(run.events, vec![text(expected)], "{encoding:?}");
            assert_eq!(run.sent, Vec::<u8>::new());
        }
    }
}

#[test]
fn non_minimal_length_encoding_on_a_control_frame_is_accepted() {
    // Payload of 5 bytes (within the 125 limit), length sent in 16 or 64 bits.
    for encoding in [LenEncoding::Force16, LenEncoding::Force64] {
        let run = server_run(&[&masked_frame(true, 0, OP_PING, b"Hello", MASK, encoding)]);
        assert_eq!(run.events, vec![ping(b"Hello")], "{encoding:?}");
        assert_eq!(
            run.sent,
            server_frame(true, OP_PONG, b"Hello"),
            "{encoding:?}"
        );
    }
}

// ----- after a close, pings -----

#[test]
fn data_after_a_received_close_is_ignored() {
    let close_frame = c(true, OP_CLOSE, &close_payload(1000, b"bye"));
    let after = [c(true, OP_TEXT, b"ignored"), c(true, OP_PING, b"p")].concat();
    let garbage = [0xff; 16]; // Would be a reserved opcode if it were read.
    for trailing in [&after[..], &garbage] {
        let once = [&close_frame[..], trailing].concat();
        for chunks in [vec![&once[..]], vec![&close_frame[..], trailing]] {
            let run = server_run(&chunks);
            assert_eq!(run.events, vec![close(1000, "bye")]);
            assert_eq!(run.sent, [0x88, 0x02, 0x03, 0xe8]);
            assert_eq!(run.state, State::Closed);
        }
    }
}

#[test]
fn ping_is_answered_with_a_pong_of_the_same_payload() {
    let payloads: [&[u8]; 3] = [b"", b"Hello", &[0xab; 125]];
    let bytes: Vec<u8> = payloads.iter().flat_map(|p| c(true, OP_PING, p)).collect();
    let run = server_run(&[&bytes]);
    let pings: Outcome = payloads.iter().map(|p| ping(p)).collect();
    assert_eq!(run.events, pings);
    let pongs: Vec<u8> = payloads
        .iter()
        .flat_map(|p| server_frame(true, OP_PONG, p))
        .collect();
    assert_eq!(run.sent, pongs);
}

#[test]
fn ping_is_not_answered_when_auto_pong_is_off() {
    let mut config = Config::default();
    config.auto_pong = false;
    let bytes = c(true, OP_PING, b"Hello");
    let run = run_both(Role::Server, config.clone(), &[&bytes]);
    assert_eq!(run.events, vec![ping(b"Hello")]);
    assert_eq!(run.sent, Vec::<u8>::new());
    // The application answers itself.
    let mut server = connection(Role::Server, config);
    server.recv(&bytes);
    assert_eq!(server.poll_event(), ping(b"Hello").map(Some));
    server.send_pong(b"Hello").unwrap();
    let mut sent = Vec::new();
    server.poll_transmit(&mut sent);
    assert_eq!(sent, [0x8a, 0x05, b'H', b'e', b'l', b'l', b'o']);
}

// ----- sticky errors -----

/// The receive calls of a connection's level.
trait Receive {
    /// Every receive call of this level returns `error`, with more input
    /// or none.
    fn assert_receive_refuses(&mut self, error: ProtocolError);
}

impl Receive for Connection<Messages> {
    fn assert_receive_refuses(&mut self, error: ProtocolError) {
        assert_eq!(self.poll_event(), Err(error.into()));
        self.recv(&c(true, OP_TEXT, b"more"));
        assert_eq!(self.poll_event(), Err(error.into()));
    }
}

impl Receive for Connection<Streaming> {
    fn assert_receive_refuses(&mut self, error: ProtocolError) {
        let mut buf = c(true, OP_TEXT, b"more");
        assert_eq!(
            self.recv_in_place(&mut buf).map(|(n, _)| n),
            Err(error.into())
        );
        assert_eq!(
            self.recv_in_place(&mut []).map(|(n, _)| n),
            Err(error.into())
        );
    }
}

/// After the error was reported: every call refuses, nothing more is sent.
fn assert_sticky<L: ReceiveLevel>(conn: &mut Connection<L>, error: ProtocolError)
where
    Connection<L>: Receive,
{
    let mut sent = Vec::new();
    assert!(conn.poll_transmit(&mut sent) > 0, "close frame queued");
    assert_eq!(sent_close_code(&sent), Some(error.close_code().0));
    for _ in 0..2 {
        conn.assert_receive_refuses(error);
    }
    let closed = Err(SendError::Closed);
    assert_eq!(conn.send_text("x"), closed);
    assert_eq!(conn.send_binary(b"x"), closed);
    assert_eq!(conn.send_fragment(MessageKind::Text, b"x", true), closed);
    assert_eq!(conn.send_ping(b"x"), closed);
    assert_eq!(conn.send_pong(b"x"), closed);
    assert_eq!(
        conn.close(std::time::Instant::now(), CloseCode::NORMAL, ""),
        closed
    );
    conn.recv_eof();
    conn.assert_receive_refuses(error); // end of stream keeps the error
    assert_eq!(
        conn.poll_transmit(&mut Vec::new()),
        0,
        "nothing after the close"
    );
    assert_eq!(conn.state(), State::Closed);
}

#[test]
fn error_is_sticky_at_the_message_level() {
    let error = ProtocolError::ReservedBits(0b100);
    let mut server = connection(Role::Server, Config::default());
    server.recv(&[c(true, OP_TEXT, b"ok"), hello_frame(true, 0b100, OP_TEXT)].concat());
    assert_eq!(server.poll_event(), text("ok").map(Some));
    assert_eq!(server.poll_event(), Err(error.into()));
    assert_eq!(
        server.state(),
        State::Closing(Initiator::Local),
        "close not yet written"
    );
    assert_sticky(&mut server, error);
    // The same connection, turned to the streaming level, refuses too.
    server.into_streaming().assert_receive_refuses(error);
}

#[test]
fn error_is_sticky_at_the_streaming_level() {
    let error = ProtocolError::InvalidUtf8;
    let mut server = stream_connection(Role::Server, Config::default());
    let mut buf = c(false, OP_TEXT, &KOSME_SURROGATE);
    assert_eq!(
        server.recv_in_place(&mut buf).map(|(n, _)| n),
        Err(error.into())
    );
    assert_sticky(&mut server, error);
}

// ----- end of stream -----

#[test]
fn eof_before_a_close_is_unexpected_eof_1006_and_sends_nothing() {
    let eof = Err(ConnectionError::UnexpectedEof);
    assert_eq!(ConnectionError::UnexpectedEof.close_code(), CloseCode(1006));
    let hello = c(true, OP_TEXT, b"Hello");
    let partial = c(false, OP_TEXT, b"Hel");
    for input in [&b""[..], &hello, &partial, &hello[..3]] {
        let mut server = connection(Role::Server, Config::default());
        server.recv(input);
        server.recv_eof();
        if input == &hello[..] {
            assert_eq!(server.poll_event(), text("Hello").map(Some));
        }
        assert_eq!(server.poll_event(), eof);
        assert_eq!(server.poll_event(), eof);
        let mut server = server.into_streaming();
        assert_eq!(server.recv_in_place(&mut []).map(|_| None), eof);
        assert_eq!(server.poll_transmit(&mut Vec::new()), 0);
        assert_eq!(server.state(), State::Closed);
        assert_eq!(server.send_text("x"), Err(SendError::Closed));
    }
    // At the streaming level, mid-message.
    let mut server = stream_connection(Role::Server, Config::default());
    let mut buf = partial.clone();
    assert!(server.recv_in_place(&mut buf).unwrap().1.is_some());
    server.recv_eof();
    assert_eq!(server.recv_in_place(&mut []).map(|_| None), eof);
    assert_eq!(server.poll_transmit(&mut Vec::new()), 0);
    assert_eq!(server.state(), State::Closed);
}

#[test]
fn eof_after_the_peer_started_closing_handshake_is_clean() {
    let mut server = connection(Role::Server, Config::default());
    server.recv(&c(true, OP_CLOSE, &close_payload(1001, b"")));
    assert_eq!(server.poll_event(), close(1001, "").map(Some));
    let mut sent = Vec::new();
    server.poll_transmit(&mut sent);
    assert_eq!(sent, [0x88, 0x02, 0x03, 0xe9]);
    assert_eq!(server.state(), State::Closed);
    server.recv_eof();
    assert_eq!(server.poll_event(), Ok(None));
    assert_eq!(server.state(), State::Closed);
}

#[test]
fn eof_after_a_locally_started_closing_handshake_is_clean() {
    let mut server = connection(Role::Server, Config::default());
    server
        .close(std::time::Instant::now(), CloseCode::NORMAL, "bye")
        .unwrap();
    let mut sent = Vec::new();
    server.poll_transmit(&mut sent);
    assert_eq!(sent, [0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e']);
    assert_eq!(server.state(), State::Closing(Initiator::Local));
    server.recv(&c(true, OP_CLOSE, &close_payload(1000, b"")));
    assert_eq!(server.poll_event(), close(1000, "").map(Some));
    assert_eq!(server.poll_transmit(&mut Vec::new()), 0, "no second close");
    assert_eq!(server.state(), State::Closed);
    server.recv_eof();
    assert_eq!(server.poll_event(), Ok(None));
    let mut server = server.into_streaming();
    let consumed = server.recv_in_place(&mut []).map(|(n, e)| (n, e.is_none()));
    assert_eq!(consumed, Ok((0, true)));
    assert_eq!(server.state(), State::Closed);
}
