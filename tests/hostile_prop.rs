//! Property tests on arbitrary bytes: any input, split anywhere, gives the
//! same events and the same error as in one piece, at both levels; the
//! streaming level never claims more bytes than it was given; an error is
//! sticky and its close frame (with the error's code) is queued.

use proptest::prelude::*;
use wsproto::{
    Config, Connection, EntropyError, EntropySource, Event, MessageKind, ProtocolError, Role,
    StreamEvent,
};

type Outcome = (Vec<Event>, Option<ProtocolError>, Vec<u8>);

fn config() -> Config {
    let mut config = Config::default();
    // Small limits so random lengths hit them often.
    config.max_frame_len = 300;
    config.max_message_len = 600;
    config
}

/// The same masks on every run, so the bytes a client sends compare equal.
struct SameMasks(u8);

impl EntropySource for SameMasks {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        for byte in dest {
            self.0 = self.0.wrapping_add(37);
            *byte = self.0;
        }
        Ok(())
    }
}

fn connection(role: Role) -> Connection {
    Connection::with_entropy(role, config(), Box::new(SameMasks(0)))
}

fn message_level(role: Role, pieces: &[&[u8]]) -> Outcome {
    let mut conn = connection(role);
    let mut events = Vec::new();
    let mut error = None;
    for piece in pieces {
        conn.recv(piece);
        loop {
            match conn.poll_event() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
    }
    if let Some(e) = error {
        // Sticky: the same error again, and no data can be sent.
        assert_eq!(conn.poll_event(), Err(e));
        assert!(conn.send_text("x").is_err());
    }
    let mut sent = Vec::new();
    conn.poll_transmit(&mut sent);
    (events, error, sent)
}

fn stream_level(role: Role, pieces: &[&[u8]]) -> Outcome {
    let mut conn = connection(role);
    let mut events = Vec::new();
    let mut error = None;
    let mut message = Vec::new();
    'feed: for piece in pieces {
        let mut buf = piece.to_vec();
        let len = buf.len();
        let mut at = 0;
        loop {
            match conn.recv_in_place(&mut buf[at..]) {
                Ok((used, event)) => {
                    assert!(used <= len - at, "consumed more than given");
                    at += used;
                    match event {
                        None => break,
                        Some(StreamEvent::Data { kind, payload, fin }) => {
                            message.extend_from_slice(payload);
                            if fin {
                                let data = std::mem::take(&mut message);
                                events.push(match kind {
                                    MessageKind::Text => {
                                        Event::Text(String::from_utf8(data).expect("validated"))
                                    }
                                    MessageKind::Binary => Event::Binary(data),
                                });
                            }
                        }
                        Some(StreamEvent::Ping(p)) => events.push(Event::Ping(p)),
                        Some(StreamEvent::Pong(p)) => events.push(Event::Pong(p)),
                        Some(StreamEvent::Close(f)) => events.push(Event::Close(f)),
                        Some(other) => panic!("unknown event {other:?}"),
                    }
                }
                Err(e) => {
                    error = Some(e);
                    assert_eq!(conn.recv_in_place(&mut [0x81, 0x00]), Err(e));
                    break 'feed;
                }
            }
        }
    }
    let mut sent = Vec::new();
    conn.poll_transmit(&mut sent);
    (events, error, sent)
}

/// The close code of the last frame in `sent`, if it is a close frame with
/// a code. Servers send unmasked frames, so the bytes can be read directly.
fn last_close_code(sent: &[u8]) -> Option<u16> {
    let mut at = 0;
    let mut code = None;
    while at + 2 <= sent.len() {
        let len = usize::from(sent[at + 1] & 0x7f);
        let (header, len) = match len {
            126 => (
                4,
                usize::from(u16::from_be_bytes([sent[at + 2], sent[at + 3]])),
            ),
            _ => (2, len),
        };
        code = (sent[at] == 0x88 && len >= 2)
            .then(|| u16::from_be_bytes([sent[at + header], sent[at + header + 1]]));
        at += header + len;
    }
    code
}

/// One frame, mostly valid for a peer of `masked` role: sometimes a
/// reserved opcode or RSV bit, a wrong mask bit, or a non-minimal length.
fn frame(masked: bool) -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![3 => Just(true), 1 => Just(false)],
        prop_oneof![
            6 => prop_oneof![Just(1u8), Just(2)],
            2 => Just(0u8),
            3 => prop_oneof![Just(8u8), Just(9), Just(10)],
            1 => 0u8..16,
        ],
        prop_oneof![19 => Just(0u8), 1 => 0u8..8],
        prop_oneof![19 => Just(masked), 1 => any::<bool>()],
        prop_oneof![
            3 => proptest::collection::vec(any::<u8>(), 0..40),
            3 => "[a-zé€𝄞]{0,20}".prop_map(String::into_bytes),
            1 => proptest::collection::vec(any::<u8>(), 100..320),
        ],
        0u8..3,
        any::<[u8; 4]>(),
    )
        .prop_map(|(fin, opcode, rsv, mask, payload, encoding, key)| {
            // Control frames are final unless the RSV draw also went wrong.
            let fin = fin || (opcode >= 8 && rsv == 0);
            let mut out = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
            let mask_bit = if mask { 0x80 } else { 0 };
            let len = payload.len();
            match encoding {
                0 if len < 126 => out.push(mask_bit | len as u8),
                0 | 1 if len <= 0xffff => {
                    out.push(mask_bit | 126);
                    out.extend_from_slice(&(len as u16).to_be_bytes());
                }
                _ => {
                    out.push(mask_bit | 127);
                    out.extend_from_slice(&(len as u64).to_be_bytes());
                }
            }
            if mask {
                out.extend_from_slice(&key);
                out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
            } else {
                out.extend_from_slice(&payload);
            }
            out
        })
}

/// Arbitrary bytes, or a stream of mostly valid frames with a few bytes
/// overwritten, so the decoder gets deep into messages and not only its
/// first header.
fn hostile_bytes(masked: bool) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..200),
        3 => (
            proptest::collection::vec(frame(masked), 0..12),
            proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3),
        )
            .prop_map(|(frames, flips)| {
                let mut bytes = frames.concat();
                if !bytes.is_empty() {
                    for (at, value) in flips {
                        let len = bytes.len();
                        bytes[at % len] = value;
                    }
                }
                bytes
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn any_input_split_anywhere_gives_the_same_outcome(
        (server, bytes) in any::<bool>().prop_flat_map(|server| (Just(server), hostile_bytes(server))),
        mut cuts in proptest::collection::vec(0usize..2000, 0..30),
    ) {
        let role = if server { Role::Server } else { Role::Client };
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut start = 0;
        for cut in cuts {
            let cut = cut.min(bytes.len());
            if cut > start {
                pieces.push(&bytes[start..cut]);
                start = cut;
            }
        }
        pieces.push(&bytes[start..]);

        let whole = message_level(role, &[&bytes]);
        prop_assert_eq!(&message_level(role, &pieces), &whole);
        let streamed = stream_level(role, &pieces);
        prop_assert_eq!(&streamed.0, &whole.0);
        prop_assert_eq!(&streamed.1, &whole.1);
        prop_assert_eq!(&streamed.2, &whole.2);
        if let (Some(error), Role::Server) = (whole.1, role) {
            prop_assert_eq!(last_close_code(&whole.2), Some(error.close_code().0));
        }
    }
}
