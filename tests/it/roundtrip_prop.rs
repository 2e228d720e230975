//! Property tests: whatever one side sends (any message kinds, lengths,
//! fragmentation, pings between fragments, masks) arrives unchanged at the
//! other, whatever the chunking of the bytes in between, at both levels.

#![cfg(feature = "std")]

use crate::common;

use common::{Outcome, ScriptedEntropy, cut_at, run_both};
use proptest::prelude::*;
use wsproto::{Config, Connection, Control, ControlPayload, Event, MessageKind, Role};

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
fn send_all(sender: &mut Connection, ops: &[Op]) -> (Vec<u8>, Outcome) {
    let mut expected = Vec::new();
    for op in ops {
        match op {
            Op::Ping(payload) => {
                sender.send_ping(payload).unwrap();
                expected.push(Ok(Event::Control(Control::Ping(
                    ControlPayload::new(payload).unwrap(),
                ))));
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
                            expected.push(Ok(Event::Control(Control::Ping(
                                ControlPayload::new(b"between").unwrap(),
                            ))));
                        }
                    }
                }
                expected.push(Ok(match kind {
                    MessageKind::Text => {
                        Event::Text(String::from_utf8(data.clone()).unwrap().into())
                    }
                    MessageKind::Binary => Event::Binary(data.clone().into()),
                }));
            }
        }
    }
    let mut wire = Vec::new();
    sender.poll_transmit(&mut wire);
    (wire, expected)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn what_is_sent_arrives_unchanged_whatever_the_chunking(
        ops in proptest::collection::vec(op(), 1..12),
        client_sends in any::<bool>(),
        seed in any::<u64>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let (sender_role, receiver_role) = if client_sends {
            (Role::Client, Role::Server)
        } else {
            (Role::Server, Role::Client)
        };
        let masks = ScriptedEntropy::new(&seed.to_le_bytes());
        let mut sender = Connection::with_entropy(sender_role, Config::default(), Box::new(masks));
        let (wire, expected) = send_all(&mut sender, &ops);
        // run_both also checks that both receive levels agree.
        prop_assert_eq!(&run_both(receiver_role, Config::default(), &[&wire]).events, &expected);
        let pieces = cut_at(&wire, &cuts);
        prop_assert_eq!(&run_both(receiver_role, Config::default(), &pieces).events, &expected);
    }
}
