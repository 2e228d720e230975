//! Property tests: whatever one side sends (any message kinds, lengths,
//! fragmentation, pings between fragments, masks) arrives unchanged at the
//! other, whatever the chunking of the bytes in between, at both levels.

use proptest::prelude::*;
use wsproto::{
    Config, Connection, ControlPayload, EntropyError, EntropySource, Event, MessageKind, Role,
    StreamEvent,
};

/// Deterministic masks from a seed (xorshift64), so failures reproduce.
struct SeededEntropy(u64);

impl EntropySource for SeededEntropy {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        for byte in dest {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *byte = self.0 as u8;
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// A message, sent as fragments of `fragment` bytes (one frame if it fits).
    Message {
        kind: MessageKind,
        data: Vec<u8>,
        fragment: usize,
        ping_between: bool,
    },
    Ping(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    let message = (
        any::<bool>(),
        prop_oneof![
            3 => proptest::collection::vec(any::<u8>(), 0..300),
            1 => proptest::collection::vec(any::<u8>(), 60_000..70_000),
        ],
        1usize..400,
        any::<bool>(),
    )
        .prop_map(|(text, bytes, fragment, ping_between)| {
            let (kind, data) = if text {
                // Valid UTF-8 with multi-byte characters to split.
                let s: String = bytes
                    .iter()
                    .map(|b| match b % 4 {
                        0 => 'a',
                        1 => 'é',
                        2 => '€',
                        _ => '𝄞',
                    })
                    .collect();
                (MessageKind::Text, s.into_bytes())
            } else {
                (MessageKind::Binary, bytes)
            };
            Op::Message {
                kind,
                data,
                fragment,
                ping_between,
            }
        });
    prop_oneof![
        4 => message,
        1 => proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Op::Ping),
    ]
}

/// Sends the operations and returns the wire bytes and the expected events.
fn send_all(sender: &mut Connection, ops: &[Op]) -> (Vec<u8>, Vec<Event>) {
    let mut expected = Vec::new();
    for op in ops {
        match op {
            Op::Ping(payload) => {
                sender.send_ping(payload).unwrap();
                expected.push(Event::Ping(ControlPayload::new(payload).unwrap()));
            }
            Op::Message {
                kind,
                data,
                fragment,
                ping_between,
            } => {
                let pieces: Vec<&[u8]> = data.chunks(*fragment).collect();
                if pieces.len() <= 1 {
                    match kind {
                        MessageKind::Text => sender
                            .send_text(std::str::from_utf8(data).unwrap())
                            .unwrap(),
                        MessageKind::Binary => sender.send_binary(data).unwrap(),
                    }
                } else {
                    for (i, piece) in pieces.iter().enumerate() {
                        let fin = i + 1 == pieces.len();
                        sender.send_fragment(*kind, piece, fin).unwrap();
                        if *ping_between && i == 0 {
                            sender.send_ping(b"between").unwrap();
                            expected.push(Event::Ping(ControlPayload::new(b"between").unwrap()));
                        }
                    }
                }
                expected.push(match kind {
                    MessageKind::Text => Event::Text(String::from_utf8(data.clone()).unwrap()),
                    MessageKind::Binary => Event::Binary(data.clone()),
                });
            }
        }
    }
    let mut wire = Vec::new();
    sender.poll_transmit(&mut wire);
    (wire, expected)
}

/// Splits `wire` at the given (sorted, deduplicated) cut points.
fn chunks<'a>(wire: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in cuts {
        let cut = cut % (wire.len() + 1);
        if cut > start {
            out.push(&wire[start..cut]);
            start = cut;
        }
    }
    out.push(&wire[start..]);
    out
}

fn message_level(role: Role, pieces: &[&[u8]]) -> Vec<Event> {
    let mut receiver = Connection::new(role, Config::default());
    let mut events = Vec::new();
    for piece in pieces {
        receiver.recv(piece);
        while let Some(event) = receiver.poll_event().unwrap() {
            events.push(event);
        }
    }
    events
}

fn stream_level(role: Role, pieces: &[&[u8]]) -> Vec<Event> {
    let mut receiver = Connection::new(role, Config::default());
    let mut events = Vec::new();
    let mut message = Vec::new();
    for piece in pieces {
        let mut buf = piece.to_vec();
        let mut at = 0;
        loop {
            let (used, event) = receiver.recv_in_place(&mut buf[at..]).unwrap();
            at += used;
            match event {
                None => break,
                Some(StreamEvent::Data { kind, payload, fin }) => {
                    message.extend_from_slice(payload);
                    if fin {
                        let data = std::mem::take(&mut message);
                        events.push(match kind {
                            MessageKind::Text => Event::Text(String::from_utf8(data).unwrap()),
                            MessageKind::Binary => Event::Binary(data),
                        });
                    }
                }
                Some(StreamEvent::Ping(p)) => events.push(Event::Ping(p)),
                Some(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(at, buf.len(), "every byte is consumed");
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn what_is_sent_arrives_unchanged_whatever_the_chunking(
        ops in proptest::collection::vec(op(), 1..12),
        client_sends in any::<bool>(),
        seed in 1u64..,
        mut cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let (sender_role, receiver_role) = if client_sends {
            (Role::Client, Role::Server)
        } else {
            (Role::Server, Role::Client)
        };
        let mut sender = Connection::with_entropy(
            sender_role,
            Config::default(),
            Box::new(SeededEntropy(seed)),
        );
        let (wire, expected) = send_all(&mut sender, &ops);
        cuts.sort_unstable();
        let pieces = chunks(&wire, &cuts);
        prop_assert_eq!(&message_level(receiver_role, &[&wire]), &expected);
        prop_assert_eq!(&message_level(receiver_role, &pieces), &expected);
        prop_assert_eq!(&stream_level(receiver_role, &pieces), &expected);
    }
}
