//! Property tests of permessage-deflate: for every combination of the
//! negotiated parameters (window bits 8-15 each way, context takeover each
//! way), compression level and threshold, whatever one side sends arrives
//! unchanged at the other, at both levels, however the bytes in between
//! are split; the compressed messages never reach back further than the
//! negotiated window, and RSV1 marks exactly the compressed ones.
#![cfg(feature = "deflate")]

use crate::common;

use common::deflate_audit::Auditor;
use common::{Outcome, ScriptedEntropy, cut_at, parse_frames, run_both_on};
use proptest::prelude::*;
use wsproto::{Config, Connection, DeflateParams, Event, MessageKind, Role};

#[derive(Clone, Debug)]
struct Message {
    kind: MessageKind,
    data: Vec<u8>,
    /// Sent as fragments of this many bytes, or whole.
    fragment: Option<usize>,
}

/// Data from a small alphabet (compresses, with repeats at every
/// distance), or arbitrary bytes, or text with multi-byte characters.
fn message() -> impl Strategy<Value = Message> {
    let data = prop_oneof![
        3 => proptest::collection::vec(0u8..6, 0..3000).prop_map(|v| v.iter().map(|b| b"abcdef"[*b as usize]).collect()),
        1 => proptest::collection::vec(any::<u8>(), 0..600),
        1 => proptest::collection::vec(0u8..4, 0..800).prop_map(|v| {
            v.iter()
                .map(|b| ['a', 'é', '€', '𝄞'][*b as usize])
                .collect::<String>()
                .into_bytes()
        }),
    ];
    (data, proptest::option::of(1usize..700)).prop_map(|(data, fragment)| {
        let kind = match std::str::from_utf8(&data) {
            Ok(_) if data.len() % 2 == 0 => MessageKind::Text,
            _ => MessageKind::Binary,
        };
        Message {
            kind,
            data,
            fragment,
        }
    })
}

#[derive(Clone, Debug)]
struct Setup {
    sender: Role,
    params: DeflateParams,
    level: u8,
    min_compress_len: usize,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        any::<bool>(),
        (8u8..=15, 8u8..=15, any::<bool>(), any::<bool>()),
        0u8..=9,
        prop_oneof![Just(0usize), Just(32), 0usize..2000],
    )
        .prop_map(
            |(client, (own, peer, own_nct, peer_nct), level, min_compress_len)| Setup {
                sender: if client { Role::Client } else { Role::Server },
                params: DeflateParams::new(own, peer, own_nct, peer_nct).expect("valid bits"),
                level,
                min_compress_len,
            },
        )
}

fn peer(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

fn expected(messages: &[Message]) -> Outcome {
    messages
        .iter()
        .map(|m| {
            Ok(match m.kind {
                MessageKind::Text => Event::Text(String::from_utf8(m.data.clone()).unwrap().into()),
                MessageKind::Binary => Event::Binary(m.data.clone().into()),
            })
        })
        .collect()
}

/// Sends `messages` from a connection set up by `setup`; returns the wire.
fn send(setup: &Setup, messages: &[Message]) -> Vec<u8> {
    let mut config = Config::default();
    config.deflate.level = setup.level;
    config.deflate.min_compress_len = setup.min_compress_len;
    let mut sender = Connection::with_deflate(
        setup.sender,
        config,
        setup.params,
        Box::new(ScriptedEntropy::xorshift()),
    );
    for m in messages {
        match m.fragment {
            None => match m.kind {
                MessageKind::Text => sender.send_text(std::str::from_utf8(&m.data).unwrap()),
                MessageKind::Binary => sender.send_binary(&m.data),
            }
            .unwrap(),
            Some(size) => {
                let pieces: Vec<&[u8]> = m.data.chunks(size).collect();
                if pieces.is_empty() {
                    sender.send_fragment(m.kind, &[], true).unwrap();
                }
                for (i, piece) in pieces.iter().enumerate() {
                    sender
                        .send_fragment(m.kind, piece, i + 1 == pieces.len())
                        .unwrap();
                }
            }
        }
    }
    let mut wire = Vec::new();
    sender.poll_transmit(&mut wire);
    wire
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_parameter_combination_round_trips_at_any_split(
        setup in setup(),
        messages in proptest::collection::vec(message(), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let wire = send(&setup, &messages);
        let receiver = peer(setup.sender);
        let make = || {
            Connection::with_deflate(
                receiver,
                Config::default(),
                setup.params.mirrored(),
                Box::new(ScriptedEntropy::xorshift()),
            )
        };
        let run = run_both_on(&make, &cut_at(&wire, &cuts));
        prop_assert_eq!(run.events, expected(&messages));

        // RSV1 marks the first frame of each compressed message, and the
        // compressed data stays within the negotiated window.
        let frames = parse_frames(&wire);
        let mut auditor = Auditor::new();
        let mut message = Vec::new();
        let mut firsts = Vec::new();
        let mut compressed = false;
        for frame in &frames {
            if frame.opcode != 0 {
                compressed = frame.rsv == 0b100;
                firsts.push(compressed);
            } else {
                prop_assert_eq!(frame.rsv, 0, "RSV1 on a continuation");
            }
            message.extend_from_slice(&frame.payload);
            if frame.fin {
                if compressed {
                    let inflated = auditor.message(&message);
                    prop_assert!(inflated.is_ok(), "{:?}", inflated);
                    if setup.params.own_no_context_takeover() {
                        auditor.reset();
                    }
                }
                message.clear();
            }
        }
        let window = 1usize << setup.params.own_max_window_bits();
        prop_assert!(auditor.max_distance() <= window, "distance {} > {window}", auditor.max_distance());
        // Whole messages under the threshold go uncompressed; fragmented
        // ones are always compressed.
        let wanted: Vec<bool> = messages
            .iter()
            .map(|m| m.fragment.is_some() || m.data.len() >= setup.min_compress_len)
            .collect();
        prop_assert_eq!(firsts, wanted);
    }
}
