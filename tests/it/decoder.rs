//! `Decoder`, the receive state machine on `core` alone: the RFC 6455
//! section 5.7 examples, every split point, each protocol violation with its
//! error, stickiness, the silence after the peer's close, and (with `alloc`)
//! a differential property test against `Connection::recv_in_place`, which
//! it mirrors minus the replies.
//!
//! Only APIs present without features are used outside `against_connection`,
//! so this file also runs under `--no-default-features`; its frame builder is
//! its own for that reason (`common` needs `Connection`).

// `common` needs `Connection`: only the differential test uses it.
#[cfg(feature = "alloc")]
use crate::common;

use wsproto::{
    CloseCode, CloseFrame, Config, Control, Decoder, MessageKind, ProtocolError, Role, StreamEvent,
};

const OP_CONT: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// No zero byte, so a payload left masked (or unmasked at the wrong phase)
/// shows.
const MASK: [u8; 4] = [0xa5, 0x5a, 0x3c, 0xc3];

/// "κόσμε", then U+D800 encoded (ED A0 80, never valid), then "edited".
const KOSME_SURROGATE: [u8; 20] = [
    0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64,
    0x69, 0x74, 0x65, 0x64,
];
/// Index of 0xA0 in [`KOSME_SURROGATE`]: the first byte proving it invalid.
const SURROGATE_PROOF: usize = 12;

// ----- frames -----

/// A frame with any first byte; `form` 0 is the minimal length encoding,
/// 1 forces 16 bits, 2 forces 64 bits.
fn encode(first: u8, payload: &[u8], mask: Option<[u8; 4]>, form: u8) -> Vec<u8> {
    let mut out = vec![first];
    let bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    match form {
        0 if len < 126 => out.push(bit | len as u8),
        0 | 1 if len <= 0xffff => {
            out.push(bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

fn first_byte(fin: bool, rsv: u8, opcode: u8) -> u8 {
    (u8::from(fin) << 7) | (rsv << 4) | opcode
}

/// A valid frame sent to `role`: masked with [`MASK`] when sent to a server.
fn to(role: Role, fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    to_with(role, fin, 0, opcode, payload)
}

/// [`to`] with reserved bits.
fn to_with(role: Role, fin: bool, rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = (role == Role::Server).then_some(MASK);
    encode(first_byte(fin, rsv, opcode), payload, mask, 0)
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    [&code.to_be_bytes()[..], reason].concat()
}

fn limits(max_frame_len: u64, max_message_len: u64) -> Config {
    let mut config = Config::default();
    config.max_frame_len = max_frame_len;
    config.max_message_len = max_message_len;
    config
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

// ----- a driver shared by `Decoder` and `Connection` -----

type Found<'a> = Result<(usize, Option<StreamEvent<'a>>), ProtocolError>;

/// The streaming-level call both types have.
trait Decode {
    fn decode_step<'a>(&'a mut self, input: &'a mut [u8]) -> Found<'a>;
}

impl Decode for Decoder {
    fn decode_step<'a>(&'a mut self, input: &'a mut [u8]) -> Found<'a> {
        self.decode(input)
    }
}

/// An event with its payload copied out.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Data {
        kind: MessageKind,
        payload: Vec<u8>,
        fin: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(CloseFrame),
}

impl From<StreamEvent<'_>> for Piece {
    fn from(event: StreamEvent<'_>) -> Self {
        match event {
            StreamEvent::Data { kind, payload, fin } => data(kind, payload, fin),
            StreamEvent::Control(Control::Ping(p)) => Piece::Ping(p.to_vec()),
            StreamEvent::Control(Control::Pong(p)) => Piece::Pong(p.to_vec()),
            StreamEvent::Control(Control::Close(frame)) => Piece::Close(frame),
            other => panic!("unknown event {other:?}"),
        }
    }
}

/// What chunking may not change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Joined {
    /// Data pieces joined per message (one final piece), controls as they came.
    messages: Vec<Piece>,
    /// The message in progress when the input ended or failed.
    partial: Option<(MessageKind, Vec<u8>)>,
    error: Option<ProtocolError>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Outcome {
    /// Every event exactly as handed out.
    pieces: Vec<Piece>,
    joined: Joined,
}

fn data(kind: MessageKind, payload: &[u8], fin: bool) -> Piece {
    let payload = payload.to_vec();
    Piece::Data { kind, payload, fin }
}

fn text(s: &str) -> Piece {
    data(MessageKind::Text, s.as_bytes(), true)
}

fn binary(payload: &[u8]) -> Piece {
    data(MessageKind::Binary, payload, true)
}

/// Feeds each chunk (copied into a mutable buffer) until no event is left;
/// checks the call's contract on the way (never consumes more than given,
/// `None` only once the input is used up, an error repeats).
fn run<D: Decode>(decoder: &mut D, chunks: &[&[u8]]) -> Outcome {
    let mut out = Outcome::default();
    for chunk in chunks {
        let mut buf = chunk.to_vec();
        let len = buf.len();
        let mut at = 0;
        loop {
            let (used, event) = match decoder.decode_step(&mut buf[at..]) {
                Ok(found) => found,
                Err(error) => {
                    out.joined.error = Some(error);
                    // Sticky, whatever comes next: valid bytes or none.
                    assert_eq!(decoder.decode_step(&mut [0x81, 0x00]), Err(error));
                    assert_eq!(decoder.decode_step(&mut []), Err(error));
                    return out;
                }
            };
            assert!(used <= len - at, "consumed {used} of {}", len - at);
            at += used;
            let Some(event) = event else {
                assert_eq!(at, len, "None before the input was used up");
                break;
            };
            let piece = Piece::from(event);
            let joined = &mut out.joined;
            match &piece {
                Piece::Data { kind, payload, fin } => {
                    let (current, bytes) = joined.partial.get_or_insert_with(|| (*kind, vec![]));
                    assert_eq!(current, kind, "the kind changed within a message");
                    bytes.extend_from_slice(payload);
                    if *fin {
                        let (kind, bytes) = joined.partial.take().expect("in progress");
                        joined.messages.push(data(kind, &bytes, true));
                    }
                }
                control => joined.messages.push(control.clone()),
            }
            out.pieces.push(piece);
        }
    }
    out
}

fn decode_all(role: Role, config: &Config, chunks: &[&[u8]]) -> Outcome {
    run(&mut Decoder::new(role, config), chunks)
}

/// The input whole, in 1-byte reads, and split in two at every point.
fn chunkings(bytes: &[u8]) -> Vec<(String, Vec<&[u8]>)> {
    let mut all = vec![
        ("whole".to_owned(), vec![bytes]),
        ("1-byte reads".to_owned(), bytes.chunks(1).collect()),
    ];
    for at in 0..=bytes.len() {
        let (a, b) = bytes.split_at(at);
        all.push((format!("split at {at}"), vec![a, b]));
    }
    all
}

// ----- RFC 6455 section 5.7 -----

/// One call on `input`: bytes consumed and the event, payload copied.
fn once(role: Role, input: &mut [u8]) -> (usize, Option<Piece>) {
    let mut decoder = Decoder::new(role, &Config::default());
    let (used, event) = decoder.decode(input).expect("valid input");
    (used, event.map(Piece::from))
}

#[test]
fn rfc_unmasked_hello_reaches_a_client_in_one_call() {
    let mut input = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let hello = data(MessageKind::Text, b"Hello", true);
    assert_eq!(once(Role::Client, &mut input), (7, Some(hello)));
}

#[test]
fn rfc_masked_hello_is_unmasked_in_place_for_a_server() {
    let mut input = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let start = input.as_ptr() as usize;
    let mut decoder = Decoder::new(Role::Server, &Config::default());
    let (used, event) = decoder.decode(&mut input).unwrap();
    assert_eq!(used, 11);
    let Some(StreamEvent::Data { payload, fin, .. }) = event else {
        panic!("{event:?}")
    };
    assert!(fin);
    // No copy: the payload is the input's own bytes after the 6-byte header.
    assert_eq!(payload.as_ptr() as usize, start + 6);
    assert_eq!(&input[6..], b"Hello");
}

#[test]
fn rfc_fragmented_hello_comes_out_as_two_pieces_of_one_text() {
    let bytes = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    let out = decode_all(Role::Client, &Config::default(), &[&bytes]);
    let (hel, lo) = (b"Hel", b"lo");
    let text_piece = |payload: &[u8], fin| data(MessageKind::Text, payload, fin);
    assert_eq!(out.pieces, [text_piece(hel, false), text_piece(lo, true)]);
    assert_eq!(out.joined.messages, [text("Hello")]);
}

#[test]
fn rfc_ping_and_pong_carry_their_payload() {
    let mut ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let hello = b"Hello".to_vec();
    assert_eq!(
        once(Role::Client, &mut ping),
        (7, Some(Piece::Ping(hello.clone())))
    );
    // Masked with the key of the masked "Hello", to a server.
    let mut pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        once(Role::Server, &mut pong),
        (11, Some(Piece::Pong(hello)))
    );
}

#[test]
fn rfc_long_binaries_use_the_16_and_64_bit_lengths() {
    let mut short = [&[0x82, 0x7e, 0x01, 0x00][..], &pattern(256)].concat();
    let whole = data(MessageKind::Binary, &pattern(256), true);
    assert_eq!(once(Role::Client, &mut short), (4 + 256, Some(whole)));
    let header = [0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
    let mut long = [&header[..], &pattern(65536)].concat();
    let whole = data(MessageKind::Binary, &pattern(65536), true);
    assert_eq!(once(Role::Client, &mut long), (10 + 65536, Some(whole)));
}

// ----- split points -----

/// Valid traffic to `role`: every length form, a text whose characters
/// are cut by fragment boundaries, controls between fragments, empty frames.
fn valid_stream(role: Role) -> (Vec<u8>, Vec<Piece>) {
    let kosme = "κόσμε".as_bytes();
    let mask = (role == Role::Server).then_some(MASK);
    let frames = [
        to(role, true, OP_TEXT, b"Hello"),
        to(role, true, OP_BINARY, &pattern(300)),
        to(role, true, OP_PING, b"p"),
        // "κόσμε" in three fragments, cut inside characters, with a pong,
        // an empty middle fragment and a ping in between.
        to(role, false, OP_TEXT, &kosme[..4]),
        to(role, true, OP_PONG, b""),
        to(role, false, OP_CONT, &kosme[4..10]),
        to(role, false, OP_CONT, b""),
        to(role, true, OP_PING, &pattern(125)),
        to(role, true, OP_CONT, &kosme[10..]),
        // Non-minimal lengths are allowed (they bind senders only).
        encode(0x82, b"wide", mask, 2),
        encode(0x81, b"", mask, 1),
        to(role, false, OP_BINARY, b"ab"),
        to(role, true, OP_CONT, b""),
        to(role, true, OP_CLOSE, &close_payload(1000, b"bye")),
    ];
    let messages = vec![
        text("Hello"),
        binary(&pattern(300)),
        Piece::Ping(b"p".to_vec()),
        Piece::Pong(vec![]),
        Piece::Ping(pattern(125)),
        text("κόσμε"),
        binary(b"wide"),
        text(""),
        binary(b"ab"),
        Piece::Close(CloseFrame::new(CloseCode::NORMAL, "bye").unwrap()),
    ];
    (frames.concat(), messages)
}

#[test]
fn every_split_point_gives_the_same_messages_and_controls() {
    for role in [Role::Server, Role::Client] {
        let (bytes, expected) = valid_stream(role);
        for (how, chunks) in chunkings(&bytes) {
            let out = decode_all(role, &Config::default(), &chunks);
            let want = Joined {
                messages: expected.clone(),
                ..Joined::default()
            };
            assert_eq!(out.joined, want, "{role:?}, {how}");
        }
    }
}

// ----- errors -----

struct Violation {
    name: &'static str,
    role: Role,
    config: Config,
    bytes: Vec<u8>,
    error: ProtocolError,
    code: u16,
}

/// One violation per case, after a valid "ok" (which must come out first).
#[rustfmt::skip]
fn violations() -> Vec<Violation> {
    use ProtocolError as E;
    let default = Config::default;
    let mut cases = vec![
        ("unmasked frame to a server", Role::Server, default(), encode(0x81, b"hi", None, 0), E::UnmaskedFrame, 1002),
        ("masked frame to a client", Role::Client, default(), encode(0x81, b"hi", Some(MASK), 0), E::MaskedFrame, 1002),
    ];
    for role in [Role::Server, Role::Client] {
        let f = |fin, opcode, payload: &[u8]| to(role, fin, opcode, payload);
        let rsv = |rsv, opcode| to_with(role, true, rsv, opcode, b"x");
        let bit = if role == Role::Server { 0x80 } else { 0 };
        let key: &[u8] = if role == Role::Server { &MASK } else { &[] };
        let overflow = [&[0x82, bit | 127, 0x80, 0, 0, 0, 0, 0, 0, 1][..], key].concat();
        let huge_ping = [&[0x89, bit | 126, 0, 126][..], key, &[0; 126]].concat();
        // 2^40 bytes announced: refused from the header alone.
        let huge_header = [&[0x82, bit | 127, 0, 0, 1, 0, 0, 0, 0, 0][..], key].concat();
        let fragmented = [f(false, OP_TEXT, b"ab"), f(true, OP_BINARY, b"cd")].concat();
        let too_much = [f(false, OP_BINARY, &[1; 6]), f(true, OP_CONT, &[2; 6])].concat();
        cases.extend([
            ("reserved data opcode 3", role, default(), f(true, 3, b""), E::ReservedOpcode(3), 1002),
            ("reserved control opcode 0xB", role, default(), f(true, 0xB, b""), E::ReservedOpcode(0xB), 1002),
            ("RSV1 without permessage-deflate", role, default(), rsv(0b100, OP_TEXT), E::ReservedBits(0b100), 1002),
            ("RSV2 on a binary frame", role, default(), rsv(0b010, OP_BINARY), E::ReservedBits(0b010), 1002),
            ("RSV3 on a ping", role, default(), rsv(0b001, OP_PING), E::ReservedBits(0b001), 1002),
            ("ping over 125 bytes", role, default(), huge_ping, E::ControlFrameTooLong, 1002),
            ("ping without FIN", role, default(), f(false, OP_PING, b""), E::FragmentedControlFrame, 1002),
            ("continuation without a start", role, default(), f(true, OP_CONT, b"x"), E::UnexpectedContinuation, 1002),
            ("new message amid a fragmented one", role, default(), fragmented, E::ExpectedContinuation, 1002),
            ("64-bit length with the top bit set", role, default(), overflow, E::LengthOverflow, 1002),
            ("invalid UTF-8 in a text frame", role, default(), f(true, OP_TEXT, &KOSME_SURROGATE), E::InvalidUtf8, 1007),
            ("text ending inside a character", role, default(), f(true, OP_TEXT, &[0xce, 0xba, 0xe1]), E::InvalidUtf8, 1007),
            ("one-byte close payload", role, default(), f(true, OP_CLOSE, &[0x03]), E::ClosePayloadTooShort, 1002),
            ("close code 1005 on the wire", role, default(), f(true, OP_CLOSE, &close_payload(1005, b"")), E::InvalidCloseCode(1005), 1002),
            ("close code 999", role, default(), f(true, OP_CLOSE, &close_payload(999, b"")), E::InvalidCloseCode(999), 1002),
            ("close reason not UTF-8", role, default(), f(true, OP_CLOSE, &close_payload(1000, &[0xff])), E::InvalidCloseReason, 1007),
            ("frame over max_frame_len", role, limits(10, 100), f(true, OP_BINARY, &[0; 11]), E::FrameTooLong { len: 11, max: 10 }, 1009),
            ("message over max_message_len", role, limits(100, 10), too_much, E::MessageTooLong { len: 12, max: 10 }, 1009),
            ("2^40-byte frame, header alone", role, default(), huge_header, E::FrameTooLong { len: 1 << 40, max: 16 << 20 }, 1009),
        ]);
    }
    cases
        .into_iter()
        .map(|(name, role, config, bad, error, code)| Violation {
            bytes: [to(role, true, OP_TEXT, b"ok"), bad].concat(),
            name,
            role,
            config,
            error,
            code,
        })
        .collect()
}

#[test]
fn each_violation_gives_its_error_at_every_split_point() {
    for case in violations() {
        let name = format!("{} ({:?})", case.name, case.role);
        assert_eq!(case.error.close_code(), CloseCode(case.code), "{name}");
        for (how, chunks) in chunkings(&case.bytes) {
            let out = decode_all(case.role, &case.config, &chunks);
            assert_eq!(out.joined.error, Some(case.error), "{name}, {how}");
            assert_eq!(out.joined.messages, [text("ok")], "{name}, {how}");
        }
    }
}

#[test]
fn invalid_utf8_fails_at_its_first_bad_byte_even_in_a_non_final_fragment() {
    // A non-final text fragment: the message could not be judged whole yet,
    // but the surrogate's second byte already proves it invalid.
    let bytes = to(Role::Server, false, OP_TEXT, &KOSME_SURROGATE);
    let header = bytes.len() - KOSME_SURROGATE.len();
    let mut decoder = Decoder::new(Role::Server, &Config::default());
    let mut delivered = vec![];
    for (i, byte) in bytes.iter().enumerate() {
        match decoder.decode(&mut [*byte]) {
            Ok((1, Some(StreamEvent::Data { payload, fin, .. }))) => {
                assert!(!fin);
                delivered.extend_from_slice(payload);
            }
            Ok((1, None)) => assert!(i < header, "payload byte {i} gave no piece"),
            Err(error) => {
                assert_eq!(error, ProtocolError::InvalidUtf8);
                assert_eq!(i - header, SURROGATE_PROOF, "failed at the wrong byte");
                assert_eq!(delivered, KOSME_SURROGATE[..SURROGATE_PROOF]);
                return;
            }
            other => panic!("byte {i}: {other:?}"),
        }
    }
    panic!("never failed");
}

#[test]
fn a_whole_invalid_fragment_fails_before_any_of_it_is_handed_out() {
    let mut input = to(Role::Client, false, OP_TEXT, &KOSME_SURROGATE);
    let mut decoder = Decoder::new(Role::Client, &Config::default());
    assert_eq!(decoder.decode(&mut input), Err(ProtocolError::InvalidUtf8));
}

#[test]
fn an_error_is_sticky_and_not_a_close() {
    let mut decoder = Decoder::new(Role::Server, &Config::default());
    let mut bad = encode(0x81, b"hi", None, 0);
    assert_eq!(decoder.decode(&mut bad), Err(ProtocolError::UnmaskedFrame));
    // Valid input, even the fast path's whole message, gets the same error.
    let mut good = to(Role::Server, true, OP_TEXT, b"fine");
    assert_eq!(decoder.decode(&mut good), Err(ProtocolError::UnmaskedFrame));
    let mut ping = to(Role::Server, true, OP_PING, b"");
    assert_eq!(decoder.decode(&mut ping), Err(ProtocolError::UnmaskedFrame));
    assert!(!decoder.is_closed());
}

#[test]
fn after_the_peers_close_all_input_is_consumed_and_ignored() {
    let close_frame = to(Role::Client, true, OP_CLOSE, &close_payload(1000, b"bye"));
    let mut input = [&close_frame[..], &[0xff; 20]].concat();
    let mut decoder = Decoder::new(Role::Client, &Config::default());
    assert!(!decoder.is_closed());
    let (used, event) = decoder.decode(&mut input).unwrap();
    assert_eq!(used, close_frame.len());
    let expected = CloseFrame::new(CloseCode::NORMAL, "bye").unwrap();
    assert_eq!(event, Some(StreamEvent::Control(Control::Close(expected))));
    assert!(decoder.is_closed());
    // The garbage after it (a reserved opcode, were it read) is skipped.
    assert_eq!(decoder.decode(&mut input[used..]), Ok((20, None)));
    // So is a valid frame, and an invalid one.
    let mut text = to(Role::Client, true, OP_TEXT, b"late");
    assert_eq!(decoder.decode(&mut text), Ok((6, None)));
    let mut masked = encode(0x81, b"x", Some(MASK), 0);
    assert_eq!(decoder.decode(&mut masked), Ok((7, None)));
    assert_eq!(decoder.decode(&mut []), Ok((0, None)));
    assert!(decoder.is_closed());
}

// ----- against Connection -----

#[cfg(feature = "alloc")]
mod against_connection {
    use super::*;
    use proptest::prelude::*;
    use wsproto::{Connection, Streaming};

    impl Decode for Connection<Streaming> {
        fn decode_step<'a>(&'a mut self, input: &'a mut [u8]) -> Found<'a> {
            // Without the end of input, only a violation ends it.
            self.recv_in_place(input)
                .map_err(|error| error.protocol_error().expect("a protocol error"))
        }
    }

    fn both(role: Role, config: &Config, chunks: &[&[u8]]) -> (Outcome, Outcome) {
        let decoder = decode_all(role, config, chunks);
        // Its replies are not compared: any masking keys will do.
        let mut conn = Connection::new(role, config.clone()).into_streaming();
        (decoder, run(&mut conn, chunks))
    }

    #[test]
    fn the_fixed_streams_and_violations_decode_alike() {
        let mut inputs = vec![];
        for role in [Role::Server, Role::Client] {
            inputs.push((role, Config::default(), valid_stream(role).0));
        }
        for case in violations() {
            inputs.push((case.role, case.config, case.bytes));
        }
        for (role, config, bytes) in inputs {
            for (how, chunks) in chunkings(&bytes) {
                let (decoder, conn) = both(role, &config, &chunks);
                assert_eq!(decoder, conn, "{role:?}, {how}");
            }
        }
    }

    /// A payload: short bytes, valid text, invalid text, or long (past the
    /// small limits).
    fn payload() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            3 => proptest::collection::vec(any::<u8>(), 0..40),
            3 => "[a-zé€𝄞]{0,20}".prop_map(String::into_bytes),
            1 => Just(KOSME_SURROGATE.to_vec()),
            1 => proptest::collection::vec(any::<u8>(), 100..400),
        ]
    }

    /// One frame for a peer of `masked` role, mostly valid: sometimes a
    /// reserved opcode or bit, the wrong mask bit, a fragmented control.
    fn frame(masked: bool) -> impl Strategy<Value = Vec<u8>> {
        (
            prop_oneof![3 => Just(true), 1 => Just(false)],
            prop_oneof![
                8 => prop_oneof![Just(OP_TEXT), Just(OP_BINARY)],
                1 => Just(OP_CONT),
                3 => prop_oneof![Just(OP_PING), Just(OP_PONG)],
                1 => 0u8..16,
            ],
            prop_oneof![19 => Just(0u8), 1 => 0u8..8],
            prop_oneof![19 => Just(masked), 1 => any::<bool>()],
            payload(),
            0u8..3,
            any::<[u8; 4]>(),
        )
            .prop_map(|(fin, opcode, rsv, mask, payload, form, key)| {
                // Controls mostly final, so the stream goes on.
                let fin = fin || (opcode >= 8 && rsv == 0);
                let first = first_byte(fin, rsv, opcode);
                encode(first, &payload, mask.then_some(key), form)
            })
    }

    /// A valid fragmented message (text cut anywhere, even inside a
    /// character, or binary long enough for the message limits), with pings
    /// or pongs between its fragments.
    fn message(masked: bool) -> impl Strategy<Value = Vec<u8>> {
        (
            prop_oneof![
                3 => "[a-zé€𝄞]{0,30}".prop_map(|s| (OP_TEXT, s.into_bytes())),
                1 => proptest::collection::vec(any::<u8>(), 0..700).prop_map(|b| (OP_BINARY, b)),
            ],
            proptest::collection::vec((any::<usize>(), any::<Option<bool>>()), 0..4),
            any::<[u8; 4]>(),
        )
            .prop_map(move |((mut opcode, body), cuts, key)| {
                let mask = masked.then_some(key);
                let mut cuts: Vec<_> = cuts
                    .into_iter()
                    .map(|(c, ctrl)| (c % (body.len() + 1), ctrl))
                    .collect();
                cuts.sort();
                let mut out = vec![];
                let mut start = 0;
                for (cut, ctrl) in cuts {
                    out.extend(encode(opcode, &body[start..cut], mask, 0));
                    opcode = OP_CONT;
                    start = cut;
                    if let Some(ping) = ctrl {
                        let op = if ping { OP_PING } else { OP_PONG };
                        out.extend(encode(0x80 | op, b"ctl", mask, 0));
                    }
                }
                out.extend(encode(0x80 | opcode, &body[start..], mask, 0));
                out
            })
    }

    /// A close frame, valid or not.
    fn close_frame(masked: bool) -> impl Strategy<Value = Vec<u8>> {
        (
            prop_oneof![
                Just(vec![]),
                Just(close_payload(1000, b"bye")),
                Just(close_payload(4999, "é".as_bytes())),
                Just(vec![0x03]),
                Just(close_payload(1005, b"")),
                Just(close_payload(1000, &[0xc3])),
            ],
            any::<[u8; 4]>(),
        )
            .prop_map(move |(payload, key)| encode(0x88, &payload, masked.then_some(key), 0))
    }

    fn stream(masked: bool) -> impl Strategy<Value = Vec<u8>> {
        let item = prop_oneof![
            8 => frame(masked),
            8 => message(masked),
            1 => close_frame(masked),
            1 => proptest::collection::vec(any::<u8>(), 0..8),
        ];
        proptest::collection::vec(item, 0..16).prop_map(|items| items.concat())
    }

    proptest! {
        // 256 cases unless PROPTEST_CASES says otherwise.
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn decoder_and_recv_in_place_give_the_same_events_and_error(
            (server, bytes) in any::<bool>().prop_flat_map(|server| (Just(server), stream(server))),
            cuts in proptest::collection::vec(any::<usize>(), 0..20),
            // Small limits so random lengths hit them.
            (max_frame, max_message) in prop_oneof![
                2 => Just((300u64, 600u64)),
                1 => Just((20, 50)),
                2 => Just((16 << 20, 64 << 20)),
            ],
        ) {
            let role = if server { Role::Server } else { Role::Client };
            let config = limits(max_frame, max_message);
            let chunks = common::cut_at(&bytes, &cuts);
            let (decoder, conn) = both(role, &config, &chunks);
            prop_assert_eq!(&decoder, &conn);
            // And the chunking changed nothing that may not change.
            let whole = decode_all(role, &config, &[&bytes]);
            prop_assert_eq!(whole.joined.messages, decoder.joined.messages);
            prop_assert_eq!(whole.joined.error, decoder.joined.error);
        }
    }
}
