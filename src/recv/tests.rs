//! The receiver alone, below any connection: a header split at every byte,
//! the masking phase across cuts of a long payload, where it stands
//! (`position`, `frame_remaining`) inside a payload, the limits at their
//! boundary, control frames inside a fragmented message and split across
//! inputs, the continuation rules, UTF-8 failing at the first bad piece,
//! roles and RSV bits, and what the whole-message fast path declines.

use super::*;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One frame as it goes on the wire, masked with `mask`.
fn frame(fin: bool, rsv: u8, opcode: OpCode, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        fin,
        rsv,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    let mut head = [0u8; MAX_HEADER_LEN];
    let len = header.encode(&mut head);
    let mut wire = head[..len].to_vec();
    wire.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut wire[len..], key, 0);
    }
    wire
}

/// A client's frame (masked), as a server receives it.
fn client(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    frame(fin, 0, opcode, Some(KEY), payload)
}

fn server() -> Receiver {
    Receiver::new(Role::Server, &Config::default())
}

fn limited(max_frame_len: u64, max_message_len: u64) -> Receiver {
    let config = Config {
        max_frame_len,
        max_message_len,
        ..Config::default()
    };
    Receiver::new(Role::Server, &config)
}

/// What a connection makes of the steps: whole messages (their pieces
/// joined) and control frames, in order.
#[derive(Debug, PartialEq)]
enum Seen {
    Message(MessageKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, String),
}

/// A receiver and what it handed out so far.
struct Fed {
    rx: Receiver,
    /// The message in progress, its pieces joined.
    partial: Vec<u8>,
    seen: Vec<Seen>,
}

impl Fed {
    fn new(rx: Receiver) -> Self {
        Fed {
            rx,
            partial: Vec::new(),
            seen: Vec::new(),
        }
    }

    /// Steps through `input` as a connection does: each data piece
    /// unmasked and validated in place, then kept.
    fn feed(&mut self, input: &[u8]) -> Result<(), ProtocolError> {
        let mut input = input.to_vec();
        let mut at = 0;
        loop {
            let (used, step) = self.rx.step(&input[at..])?;
            match step {
                Step::NeedMore => {
                    assert_eq!(at + used, input.len(), "NeedMore left input unread");
                    return Ok(());
                }
                Step::Data(piece) => {
                    let range = at + piece.range.start..at + piece.range.end;
                    self.rx.accept_data(&mut input[range.clone()], &piece)?;
                    self.partial.extend_from_slice(&input[range]);
                    if piece.fin {
                        let data = core::mem::take(&mut self.partial);
                        self.seen.push(Seen::Message(piece.kind, data));
                    }
                }
                Step::Control(control) => self.seen.push(match control {
                    Control::Ping(payload) => Seen::Ping(payload.as_bytes().to_vec()),
                    Control::Pong(payload) => Seen::Pong(payload.as_bytes().to_vec()),
                    Control::Close(frame) => Seen::Close(frame.code().0, frame.reason().into()),
                }),
            }
            at += used;
        }
    }

    /// Feeds `input` in pieces of `chunk` bytes.
    fn feed_chunks(&mut self, input: &[u8], chunk: usize) -> Result<(), ProtocolError> {
        input.chunks(chunk).try_for_each(|piece| self.feed(piece))
    }
}

/// What `rx` makes of `wire` fed whole.
fn whole(rx: Receiver, wire: &[u8]) -> Result<Vec<Seen>, ProtocolError> {
    let mut fed = Fed::new(rx);
    fed.feed(wire).map(|()| fed.seen)
}

/// Header bytes held while a header is split across inputs.
fn header_held(rx: &Receiver) -> Option<usize> {
    match rx.reading {
        Reading::Header { len, .. } => Some(usize::from(len)),
        Reading::Payload(_) => None,
    }
}

#[test]
fn a_header_split_at_every_byte_is_read_whole() {
    // 2-, 4- and 10-byte headers, plus the key: 6, 8 and 14 bytes.
    for len in [5, 300, 70_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let wire = client(true, OpCode::Binary, &payload);
        let header_len = wire.len() - len;
        let expected = vec![Seen::Message(MessageKind::Binary, payload.clone())];
        for cut in 1..header_len {
            let mut fed = Fed::new(server());
            fed.feed(&wire[..cut]).expect("valid");
            assert_eq!(header_held(&fed.rx), Some(cut), "{len} cut at {cut}");
            assert!(fed.seen.is_empty());
            fed.feed(&wire[cut..]).expect("valid");
            assert_eq!(fed.seen, expected, "{len} cut at {cut}");
        }
        // The header a byte at a time, then the payload whole.
        let mut fed = Fed::new(server());
        fed.feed_chunks(&wire[..header_len], 1).expect("valid");
        assert_eq!(header_held(&fed.rx), None, "the header is complete");
        fed.feed(&wire[header_len..]).expect("valid");
        assert_eq!(fed.seen, expected);
    }
}

#[test]
fn the_masking_phase_survives_any_cut_of_a_long_payload() {
    // The position in the payload is kept modulo 256 (a byte): enough for
    // the key's phase, which cuts past 256 bytes must keep.
    let payload: Vec<u8> = (0..1000).map(|i| (i * 7 % 256) as u8).collect();
    let wire = client(true, OpCode::Binary, &payload);
    for chunk in [1, 3, 7, 255, 256, 257, 999] {
        let mut fed = Fed::new(server());
        fed.feed_chunks(&wire, chunk).expect("valid");
        assert_eq!(
            fed.seen,
            [Seen::Message(MessageKind::Binary, payload.clone())],
            "chunks of {chunk}"
        );
    }
    let mut fed = Fed::new(server());
    fed.feed(&wire[..8 + 300]).expect("valid");
    let Reading::Payload(frame) = &fed.rx.reading else {
        panic!("inside the payload");
    };
    assert_eq!((frame.remaining, frame.at), (700, (300 % 256) as u8));
}

#[cfg(feature = "alloc")]
#[test]
fn position_and_frame_remaining_follow_a_partial_payload() {
    let wire = client(true, OpCode::Text, b"0123456789");
    let mut fed = Fed::new(server());
    assert_eq!(fed.rx.position(), Position::FrameStart);
    assert!(fed.rx.between_messages());
    fed.feed(&wire[..1]).expect("valid");
    assert_eq!(fed.rx.position(), Position::Elsewhere, "inside a header");
    assert!(!fed.rx.between_messages());
    assert_eq!(fed.rx.frame_remaining(), 0);
    fed.feed(&wire[1..6]).expect("valid");
    assert_eq!(
        fed.rx.position(),
        Position::SingleFramePayload { decoded: 0 }
    );
    assert_eq!(fed.rx.frame_remaining(), 10);
    fed.feed(&wire[6..10]).expect("valid");
    assert_eq!(
        fed.rx.position(),
        Position::SingleFramePayload { decoded: 4 }
    );
    assert_eq!(fed.rx.frame_remaining(), 6);
    fed.feed(&wire[10..]).expect("valid");
    assert_eq!(fed.rx.position(), Position::FrameStart);
    assert!(fed.rx.between_messages());

    // A fragmented message: never a single frame, even its final one, and
    // between its frames the receiver is at a frame start but not between
    // messages.
    let first = client(false, OpCode::Binary, b"abc");
    let ping = client(true, OpCode::Ping, b"12345");
    let last = client(true, OpCode::Continuation, b"defg");
    let mut fed = Fed::new(server());
    fed.feed(&first[..7]).expect("valid");
    assert_eq!(fed.rx.position(), Position::Elsewhere);
    assert_eq!(fed.rx.frame_remaining(), 2);
    fed.feed(&first[7..]).expect("valid");
    assert_eq!(fed.rx.position(), Position::FrameStart);
    assert!(!fed.rx.between_messages(), "a message is in progress");
    fed.feed(&ping[..8]).expect("valid");
    assert_eq!(fed.rx.position(), Position::Elsewhere);
    assert_eq!(fed.rx.frame_remaining(), 3, "the ping's payload");
    fed.feed(&ping[8..]).expect("valid");
    fed.feed(&last[..7]).expect("valid");
    assert_eq!(fed.rx.position(), Position::Elsewhere);
    assert_eq!(fed.rx.frame_remaining(), 3);
    fed.feed(&last[7..]).expect("valid");
    assert!(fed.rx.between_messages());
    assert_eq!(
        fed.seen,
        [
            Seen::Ping(b"12345".to_vec()),
            Seen::Message(MessageKind::Binary, b"abcdefg".to_vec())
        ]
    );
}

#[test]
fn limits_hold_at_their_boundary() {
    // The frame limit: 100 passes, whole (the fast path) or a byte at a
    // time; 101 fails as soon as its header is complete.
    let at_limit = client(true, OpCode::Binary, &[1; 100]);
    assert!(whole(limited(100, 1000), &at_limit).is_ok());
    assert!(
        Fed::new(limited(100, 1000))
            .feed_chunks(&at_limit, 1)
            .is_ok()
    );
    let over = client(true, OpCode::Binary, &[1; 101]);
    let mut fed = Fed::new(limited(100, 1000));
    fed.feed(&over[..5]).expect("the header is not complete");
    let too_long = ProtocolError::FrameTooLong { len: 101, max: 100 };
    assert_eq!(fed.feed(&over[5..6]), Err(too_long));
    assert_eq!(whole(limited(100, 1000), &over), Err(too_long));

    // The message limit, across fragments: 100 + 100 + 50 passes, a 51st
    // byte fails at the header of the fragment that brings it.
    let fragments = |last: usize| {
        let mut wire = client(false, OpCode::Binary, &[2; 100]);
        wire.extend(client(false, OpCode::Continuation, &[3; 100]));
        let first_two = wire.len();
        wire.extend(client(true, OpCode::Continuation, &vec![4; last]));
        (wire, first_two)
    };
    let (wire, _) = fragments(50);
    let seen = whole(limited(100, 250), &wire).expect("at the limit");
    assert!(matches!(&seen[..], [Seen::Message(_, data)] if data.len() == 250));
    let (wire, first_two) = fragments(51);
    let mut fed = Fed::new(limited(100, 250));
    fed.feed(&wire[..first_two]).expect("200 bytes so far");
    assert_eq!(
        fed.feed(&wire[first_two..first_two + 6]),
        Err(ProtocolError::MessageTooLong { len: 251, max: 250 })
    );

    // The fast path takes the smaller limit: a whole 51-byte frame under a
    // 50-byte message limit is declined, and the general path refuses it.
    let frame51 = client(true, OpCode::Text, &[b'x'; 51]);
    assert!(limited(1000, 50).whole_message(&frame51).is_none());
    assert_eq!(
        whole(limited(1000, 50), &frame51),
        Err(ProtocolError::MessageTooLong { len: 51, max: 50 })
    );
    let frame50 = client(true, OpCode::Text, &[b'x'; 50]);
    assert!(limited(1000, 50).whole_message(&frame50).is_some());

    // Control frames are not data: a 125-byte ping passes a 10-byte limit.
    let ping = client(true, OpCode::Ping, &[5; 125]);
    assert_eq!(
        whole(limited(10, 10), &ping),
        Ok(vec![Seen::Ping(vec![5; 125])])
    );
}

#[test]
fn control_frames_inside_a_fragmented_text_message_at_every_cut() {
    // "h€!": the euro sign is cut between the fragments, with a ping and a
    // pong between them; the UTF-8 state and the message's kind survive.
    let mut wire = client(false, OpCode::Text, b"h\xe2\x82");
    wire.extend(client(true, OpCode::Ping, b"p"));
    wire.extend(client(true, OpCode::Pong, b""));
    wire.extend(client(true, OpCode::Continuation, b"\xac!"));
    let expected = [
        Seen::Ping(b"p".to_vec()),
        Seen::Pong(Vec::new()),
        Seen::Message(MessageKind::Text, "h€!".into()),
    ];
    for cut in 0..=wire.len() {
        let mut fed = Fed::new(server());
        fed.feed(&wire[..cut]).expect("valid");
        fed.feed(&wire[cut..]).expect("valid");
        assert_eq!(fed.seen, expected, "cut at {cut}");
        assert!(
            fed.rx.gathered.is_none(),
            "a control payload box outlived it"
        );
    }
    let mut fed = Fed::new(server());
    fed.feed_chunks(&wire, 1).expect("valid");
    assert_eq!(fed.seen, expected);
}

#[test]
fn a_control_payload_split_anywhere_is_gathered_and_unmasked() {
    let payload: Vec<u8> = (0..125).collect();
    let ping = client(true, OpCode::Ping, &payload);
    let mut close_payload = 4000u16.to_be_bytes().to_vec();
    close_payload.extend_from_slice("bye, é".as_bytes());
    let close = client(true, OpCode::Close, &close_payload);
    for (wire, expected) in [
        (&ping, Seen::Ping(payload.clone())),
        (&close, Seen::Close(4000, "bye, é".into())),
    ] {
        let payload_len = wire.len() - 6;
        for cut in 7..wire.len() {
            let mut fed = Fed::new(server());
            fed.feed(&wire[..cut]).expect("valid");
            assert!(fed.rx.gathered.is_some(), "a split payload is gathered");
            fed.feed(&wire[cut..]).expect("valid");
            assert_eq!(
                fed.seen,
                core::slice::from_ref(&expected),
                "{payload_len} cut at {cut}"
            );
            assert!(fed.rx.gathered.is_none(), "the box is let go");
        }
    }
    assert_eq!(
        whole(server(), &client(true, OpCode::Close, &[0x03])),
        Err(ProtocolError::ClosePayloadTooShort)
    );
}

#[test]
fn continuation_rules() {
    let cont = client(true, OpCode::Continuation, b"x");
    assert_eq!(
        whole(server(), &cont),
        Err(ProtocolError::UnexpectedContinuation)
    );
    let mut wire = client(false, OpCode::Binary, b"a");
    wire.extend(client(true, OpCode::Text, b"b"));
    assert_eq!(
        whole(server(), &wire),
        Err(ProtocolError::ExpectedContinuation)
    );
    let fragmented_ping = client(false, OpCode::Ping, b"");
    assert_eq!(
        whole(server(), &fragmented_ping),
        Err(ProtocolError::FragmentedControlFrame)
    );

    // Empty frames: a middle fragment says nothing, a final one ends the
    // message; the next message may start at once.
    let mut wire = client(false, OpCode::Binary, b"ab");
    wire.extend(client(false, OpCode::Continuation, b""));
    wire.extend(client(false, OpCode::Continuation, b"c"));
    wire.extend(client(true, OpCode::Continuation, b""));
    wire.extend(client(true, OpCode::Text, b""));
    wire.extend(client(true, OpCode::Ping, b""));
    let expected = [
        Seen::Message(MessageKind::Binary, b"abc".to_vec()),
        Seen::Message(MessageKind::Text, Vec::new()),
        Seen::Ping(Vec::new()),
    ];
    for chunk in [1, 2, wire.len()] {
        let mut fed = Fed::new(server());
        fed.feed_chunks(&wire, chunk).expect("valid");
        assert_eq!(fed.seen, expected, "chunks of {chunk}");
        assert_eq!(
            fed.rx.message_kind(),
            MessageKind::Binary,
            "none in progress"
        );
    }
}

#[test]
fn utf8_fails_at_the_first_bad_piece_not_at_the_end() {
    // In the first fragment: refused before the next one arrives.
    let mut fed = Fed::new(server());
    let bad_first = client(false, OpCode::Text, b"ok\xff");
    assert_eq!(fed.feed(&bad_first), Err(ProtocolError::InvalidUtf8));

    // Cut short at the end of a fragment is fine until the next one
    // breaks the sequence.
    let mut fed = Fed::new(server());
    fed.feed(&client(false, OpCode::Text, b"ok\xe2\x82"))
        .expect("a sequence may continue in the next fragment");
    let next = client(true, OpCode::Continuation, b"A");
    assert_eq!(fed.feed(&next[..6]), Ok(()), "the header alone");
    assert_eq!(fed.feed(&next[6..]), Err(ProtocolError::InvalidUtf8));

    // Inside one frame fed in pieces: at the piece holding the bad byte.
    let mut text = vec![b'a'; 1000];
    text[500] = 0xc0;
    let wire = client(true, OpCode::Text, &text);
    let mut fed = Fed::new(server());
    let mut fed_bytes = 0;
    let error = wire.chunks(100).find_map(|piece| {
        fed_bytes += piece.len();
        fed.feed(piece).err()
    });
    assert_eq!(error, Some(ProtocolError::InvalidUtf8));
    assert_eq!(fed_bytes, 600, "failed with the piece holding byte 500");

    // Cut short at the end of the message.
    let mut fed = Fed::new(server());
    fed.feed(&client(false, OpCode::Text, b"abc"))
        .expect("valid");
    assert_eq!(
        fed.feed(&client(true, OpCode::Continuation, b"\xe2")),
        Err(ProtocolError::InvalidUtf8)
    );
    // Binary is never validated.
    let binary = client(true, OpCode::Binary, b"\xff\xe2");
    assert!(whole(server(), &binary).is_ok());
}

#[test]
fn roles_and_reserved_bits() {
    let unmasked = frame(true, 0, OpCode::Binary, None, b"x");
    let masked = client(true, OpCode::Binary, b"x");
    assert_eq!(
        whole(server(), &unmasked),
        Err(ProtocolError::UnmaskedFrame)
    );
    let as_client = || Receiver::new(Role::Client, &Config::default());
    assert_eq!(whole(as_client(), &masked), Err(ProtocolError::MaskedFrame));
    assert!(whole(as_client(), &unmasked).is_ok());
    // No extension negotiated: every RSV bit is refused.
    for rsv in [0b100, 0b010, 0b001] {
        let wire = frame(true, rsv, OpCode::Text, Some(KEY), b"x");
        assert!(server().whole_message(&wire).is_none());
        assert_eq!(
            whole(server(), &wire),
            Err(ProtocolError::ReservedBits(rsv))
        );
    }
}

#[cfg(feature = "deflate")]
#[test]
fn with_permessage_deflate_rsv1_marks_a_first_data_frame_only() {
    let compressing = || {
        let mut rx = server();
        rx.allow_compression();
        rx
    };
    let rsv1 = |fin, opcode, payload: &[u8]| frame(fin, RSV1, opcode, Some(KEY), payload);
    assert!(whole(compressing(), &rsv1(true, OpCode::Text, b"\xff")).is_ok());
    let mut wire = rsv1(false, OpCode::Binary, b"a");
    wire.extend(rsv1(true, OpCode::Continuation, b"b"));
    assert_eq!(
        whole(compressing(), &wire),
        Err(ProtocolError::ReservedBits(RSV1))
    );
    assert_eq!(
        whole(compressing(), &rsv1(true, OpCode::Ping, b"")),
        Err(ProtocolError::ReservedBits(RSV1))
    );
    let rsv2 = frame(true, 0b010, OpCode::Text, Some(KEY), b"x");
    assert_eq!(
        whole(compressing(), &rsv2),
        Err(ProtocolError::ReservedBits(0b010))
    );

    // A compressed message is handed out in bounded pieces, each marked
    // compressed (and not validated here: its bytes are DEFLATE data).
    let payload = vec![0xff; 40_000];
    let mut input = rsv1(true, OpCode::Text, &payload);
    let mut rx = compressing();
    let (mut at, mut pieces) = (0, Vec::new());
    while at < input.len() {
        let (used, Step::Data(piece)) = rx.step(&input[at..]).expect("valid") else {
            panic!("data");
        };
        let range = at + piece.range.start..at + piece.range.end;
        rx.accept_data(&mut input[range.clone()], &piece)
            .expect("not validated");
        assert!(piece.compressed);
        pieces.push((range.len(), piece.fin));
        at += used;
    }
    let most = COMPRESSED_PIECE as usize;
    assert_eq!(
        pieces,
        [(most, false), (most, false), (40_000 - 2 * most, true)]
    );
}

#[test]
fn the_fast_path_declines_all_but_a_whole_plain_message() {
    let text = client(true, OpCode::Text, b"hello");
    let (used, piece) = server().whole_message(&text).expect("whole");
    assert_eq!((used, piece.range, piece.fin), (text.len(), 6..11, true));
    for end in 0..text.len() {
        assert!(
            server().whole_message(&text[..end]).is_none(),
            "{end} bytes"
        );
    }
    let declined = [
        client(false, OpCode::Text, b"hello"),
        client(true, OpCode::Ping, b"hello"),
        frame(true, 0, OpCode::Text, None, b"hello"),
        client(true, OpCode::Binary, &[0; 70_000]),
    ];
    for wire in &declined {
        assert!(server().whole_message(wire).is_none());
    }
    // Nor while a header or a message is in progress.
    let mut rx = server();
    assert!(rx.step(&text[..1]).is_ok());
    assert!(rx.whole_message(&text).is_none());
    let mut fed = Fed::new(server());
    fed.feed(&client(false, OpCode::Binary, b"a"))
        .expect("valid");
    assert!(fed.rx.whole_message(&text).is_none());
    // A 16-bit length is taken.
    let long = client(true, OpCode::Binary, &[0; 65_535]);
    assert!(server().whole_message(&long).is_some());
}
