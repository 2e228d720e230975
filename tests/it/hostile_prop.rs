//! Property tests on arbitrary bytes: any input, split anywhere, gives the
//! same events, error, transmitted bytes and state as in one piece, at both
//! levels (`common::run_both` also checks that the streaming level never
//! consumes more than it was given and that an error is sticky); a failure's
//! close frame, the last frame sent, carries the error's close code.

#![cfg(feature = "std")]

use crate::common;

use common::{cut_at, run_both, sent_close_code};
use proptest::prelude::*;
use wsproto::{Config, Role};

fn config() -> Config {
    // Small limits so random lengths hit them often.
    common::limits(300, 600)
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
        cuts in proptest::collection::vec(any::<usize>(), 0..30),
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let whole = run_both(role, config(), &[&bytes]);
        prop_assert_eq!(&run_both(role, config(), &cut_at(&bytes, &cuts)), &whole);
        if let Some(Err(error)) = whole.events.last() {
            prop_assert_eq!(sent_close_code(&whole.sent), Some(error.close_code().0));
        }
    }
}
