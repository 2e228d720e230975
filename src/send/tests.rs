//! The sender alone, below any connection: every way of queuing a frame
//! records its boundary (owed frames, owed at any point of a partial
//! write, land between frames and in order), the small-message encoder
//! against the general one, the high-water mark at its boundary, the rules
//! of a fragmented message (and a refused fragment changes nothing),
//! owned payloads masked in place or copied, in-place payloads finished
//! before anything owed, and client keys drawn only for frames that go
//! out. The outbox's own bookkeeping is tested in `outbox/tests.rs`.

use super::*;
use crate::close::CloseCode;
use crate::frame::ParsedHeader;

/// The refusals of a fragmented message's rules, named once (should
/// `SendError` change shape, only here).
const IN_PROGRESS: SendError = SendError::Misuse(Misuse::MessageInProgress);
const BAD_UTF8: SendError = SendError::Misuse(Misuse::InvalidUtf8);

/// Keys 1, 2, 3, 4, then 5, 6, 7, 8, and so on: each frame's key shows
/// which draw it was.
struct Counting(u8);

impl EntropySource for Counting {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        for byte in dest {
            self.0 = self.0.wrapping_add(1);
            *byte = self.0;
        }
        Ok(())
    }
}

/// The `n`th key drawn from [`Counting`], from 1.
fn nth_key(n: u8) -> [u8; 4] {
    let first = (n - 1) * 4 + 1;
    [first, first + 1, first + 2, first + 3]
}

/// A sender for `role` and the extras a connection would lend it.
fn new_sender(role: Role, high_water: usize) -> (Sender, Option<SendExtras>) {
    let extras = match role {
        Role::Client => Some(SendExtras::with_keys(Keys::Custom(Box::new(Counting(0))))),
        Role::Server => None,
    };
    (Sender::new(role, high_water), extras)
}

/// A frame read back from the wire, unmasked.
#[derive(Debug, PartialEq)]
struct Sent {
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: Vec<u8>,
}

/// The frames `wire` holds; it must hold whole frames and nothing else.
fn frames(mut wire: &[u8]) -> Vec<Sent> {
    let mut sent = Vec::new();
    while !wire.is_empty() {
        let Ok(ParsedHeader::Complete { header, len }) = FrameHeader::parse(wire) else {
            panic!("not a whole frame header: {wire:x?}");
        };
        let end = len + header.payload_len as usize;
        let mut payload = wire[len..end].to_vec();
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        sent.push(Sent {
            fin: header.fin,
            rsv: header.rsv,
            opcode: header.opcode,
            mask: header.mask,
            payload,
        });
        wire = &wire[end..];
    }
    sent
}

fn drained(sender: &mut Sender) -> Vec<u8> {
    let mut wire = Vec::new();
    sender.drain_into(&mut wire);
    wire
}

/// One of every way a frame is queued (the small-message encoder, a 16-bit
/// length, fragments with a control frame between, a payload held by
/// reference, an empty message, a close).
fn queue_mixed(sender: &mut Sender, extras: &mut Option<SendExtras>) {
    let held = Bytes::from(vec![9; BY_REFERENCE_MIN + 3]);
    let close = CloseFrame::new(CloseCode(1000), "bye").expect("valid");
    sender
        .message(extras.as_mut(), MessageKind::Text, b"small")
        .expect("queued");
    sender
        .message(extras.as_mut(), MessageKind::Binary, &[7; 300])
        .expect("queued");
    sender
        .fragment(extras.as_mut(), MessageKind::Text, b"frag", false)
        .expect("queued");
    sender
        .control(extras.as_mut(), OpCode::Ping, b"between")
        .expect("queued");
    sender
        .fragment(extras.as_mut(), MessageKind::Text, b"ment", true)
        .expect("queued");
    sender
        .message_owned(extras.as_mut(), MessageKind::Binary, held)
        .expect("queued");
    sender
        .message(extras.as_mut(), MessageKind::Binary, b"")
        .expect("queued");
    sender.close(extras.as_mut(), &close).expect("queued");
}

#[test]
fn frames_owed_at_any_point_of_a_write_land_between_frames_in_order() {
    for role in [Role::Server, Role::Client] {
        let (mut reference, mut extras) = new_sender(role, usize::MAX);
        queue_mixed(&mut reference, &mut extras);
        let whole = drained(&mut reference);
        let sent = frames(&whole);
        assert_eq!(sent.len(), 8);
        // Where each frame ends (and 0, before the first).
        let mut ends = vec![0];
        for frame in &frames_lengths(&whole) {
            ends.push(ends.last().copied().unwrap_or(0) + frame);
        }
        for at in 0..=whole.len() {
            let (mut sender, mut extras) = new_sender(role, usize::MAX);
            queue_mixed(&mut sender, &mut extras);
            sender.advance(at);
            sender
                .owe(extras.as_mut(), OpCode::Ping, b"keepalive", false)
                .expect("owed");
            sender
                .owe(extras.as_mut(), OpCode::Pong, b"owed", false)
                .expect("owed");
            let mut wire = whole[..at].to_vec();
            sender.drain_into(&mut wire);
            let boundary = ends.iter().copied().find(|&end| end >= at).expect("an end");
            let owed_len = wire.len() - whole.len();
            assert_eq!(wire[..boundary], whole[..boundary], "{role:?} at {at}");
            assert_eq!(
                wire[boundary + owed_len..],
                whole[boundary..],
                "{role:?} at {at}"
            );
            let owed = frames(&wire[boundary..boundary + owed_len]);
            let owed: Vec<_> = owed.iter().map(|f| (f.opcode, &f.payload[..])).collect();
            assert_eq!(
                owed,
                [
                    (OpCode::Ping, &b"keepalive"[..]),
                    (OpCode::Pong, &b"owed"[..])
                ],
                "{role:?} at {at}"
            );
        }
    }
}

/// The length of each frame in `wire`, in order.
fn frames_lengths(mut wire: &[u8]) -> Vec<usize> {
    let mut lengths = Vec::new();
    while let Ok(ParsedHeader::Complete { header, len }) = FrameHeader::parse(wire) {
        let end = len + header.payload_len as usize;
        lengths.push(end);
        wire = &wire[end..];
    }
    assert!(wire.is_empty());
    lengths
}

#[test]
fn writing_in_any_steps_gives_what_drain_into_gives() {
    for role in [Role::Server, Role::Client] {
        let (mut reference, mut extras) = new_sender(role, usize::MAX);
        queue_mixed(&mut reference, &mut extras);
        let whole = drained(&mut reference);
        for step in [1, 2, 5, 64, BY_REFERENCE_MIN, whole.len()] {
            let (mut sender, mut extras) = new_sender(role, usize::MAX);
            queue_mixed(&mut sender, &mut extras);
            let mut wire = Vec::new();
            while sender.buffered() > 0 {
                // What a vectored write of at most `step` bytes takes.
                let mut chunks = [&[][..]; 4];
                let n = sender.pending_chunks(&mut chunks);
                let before = wire.len();
                for chunk in &chunks[..n] {
                    let room = step - (wire.len() - before);
                    wire.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                let took = wire.len() - before;
                assert!(
                    took > 0,
                    "nothing shown with {} buffered",
                    sender.buffered()
                );
                let buffered = sender.buffered();
                sender.advance(took);
                assert_eq!(sender.buffered(), buffered - took);
            }
            assert_eq!(wire, whole, "{role:?} in writes of {step}");
        }
    }
}

#[test]
fn the_small_message_encoder_matches_the_general_one() {
    for role in [Role::Server, Role::Client] {
        for len in [0, 1, 125, 126, 127, 65_535, 65_536] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let (mut sender, mut extras) = new_sender(role, usize::MAX);
            sender
                .message(extras.as_mut(), MessageKind::Text, &payload)
                .expect("queued");
            let mask = (role == Role::Client).then(|| nth_key(1));
            let header = FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::Text,
                mask,
                payload_len: len as u64,
            };
            let mut expected = [0u8; MAX_HEADER_LEN];
            let header_len = header.encode(&mut expected);
            let mut expected = expected[..header_len].to_vec();
            expected.extend_from_slice(&payload);
            if let Some(key) = mask {
                apply_mask(&mut expected[header_len..], key, 0);
            }
            assert_eq!(drained(&mut sender), expected, "{role:?}, {len} bytes");
        }
    }
}

#[test]
fn the_high_water_mark_refuses_only_what_is_over_it() {
    let (mut sender, _) = new_sender(Role::Server, 100);
    assert_eq!(sender.check_room(), Ok(()));
    sender
        .message(None, MessageKind::Binary, &[0; 96])
        .expect("queued");
    assert_eq!(sender.buffered(), 98);
    // Owed frames count: at the mark exactly is still room.
    sender.owe(None, OpCode::Ping, b"", false).expect("owed");
    assert_eq!(sender.buffered(), 100);
    assert_eq!(sender.check_room(), Ok(()));
    sender.owe(None, OpCode::Ping, b"1", false).expect("owed");
    let pending = sender.pending().to_vec();
    assert_eq!(
        sender.check_room(),
        Err(SendError::WouldBlock {
            buffered: 103,
            high_water: 100
        })
    );
    assert_eq!(sender.pending(), pending, "a refusal changes nothing");
    sender.advance(3);
    assert_eq!(sender.check_room(), Ok(()));

    // A payload held by reference counts in full.
    let (mut sender, _) = new_sender(Role::Server, 100);
    let held = Bytes::from(vec![1; BY_REFERENCE_MIN]);
    sender
        .message_owned(None, MessageKind::Binary, held)
        .expect("queued");
    assert_eq!(sender.buffered(), 4 + BY_REFERENCE_MIN);
    assert!(sender.check_room().is_err());
}

#[test]
fn a_fragmented_message_in_progress_refuses_other_messages_and_keeps_going() {
    let (mut sender, mut extras) = new_sender(Role::Client, usize::MAX);
    let e = &mut extras;
    sender
        .fragment(e.as_mut(), MessageKind::Binary, b"one", false)
        .expect("queued");
    let buffered = sender.buffered();
    let refused = Err(IN_PROGRESS);
    assert_eq!(
        sender.message(e.as_mut(), MessageKind::Binary, b"x"),
        refused
    );
    let owned = Bytes::from(vec![0; BY_REFERENCE_MIN]);
    assert_eq!(
        sender.message_owned(e.as_mut(), MessageKind::Binary, owned),
        refused
    );
    let mut in_place = [0u8; 3];
    assert_eq!(
        sender.message_in_place(e.as_mut(), MessageKind::Binary, &mut in_place),
        Err(IN_PROGRESS)
    );
    assert_eq!(
        sender.fragment(e.as_mut(), MessageKind::Text, b"t", true),
        refused,
        "a fragment of the other kind"
    );
    assert_eq!(sender.buffered(), buffered, "refusals queue nothing");
    // Control frames go between fragments; the message then goes on.
    sender
        .control(e.as_mut(), OpCode::Pong, b"")
        .expect("queued");
    sender
        .fragment(e.as_mut(), MessageKind::Binary, b"two", false)
        .expect("queued");
    sender
        .fragment(e.as_mut(), MessageKind::Binary, b"three", true)
        .expect("queued");
    // Over: a fragment starts a new message.
    sender
        .fragment(e.as_mut(), MessageKind::Text, b"new", true)
        .expect("queued");
    sender
        .message(e.as_mut(), MessageKind::Binary, b"whole")
        .expect("queued");
    let sent = frames(&drained(&mut sender));
    let shape: Vec<_> = sent
        .iter()
        .map(|f| (f.fin, f.opcode, &f.payload[..]))
        .collect();
    assert_eq!(
        shape,
        [
            (false, OpCode::Binary, &b"one"[..]),
            (true, OpCode::Pong, b""),
            (false, OpCode::Continuation, b"two"),
            (true, OpCode::Continuation, b"three"),
            (true, OpCode::Text, b"new"),
            (true, OpCode::Binary, b"whole"),
        ]
    );
    // Keys are drawn only for frames that go out, in order: the refusals
    // took none.
    let keys: Vec<_> = sent.iter().map(|f| f.mask).collect();
    assert_eq!(keys, (1..=6).map(|n| Some(nth_key(n))).collect::<Vec<_>>());
}

#[test]
fn a_text_fragment_that_breaks_utf8_is_refused_and_changes_nothing() {
    let (mut sender, _) = new_sender(Role::Server, usize::MAX);
    // A first fragment refused starts no message.
    assert_eq!(
        sender.fragment(None, MessageKind::Text, b"\xff", false),
        Err(BAD_UTF8)
    );
    assert_eq!(sender.buffered(), 0);
    sender
        .message(None, MessageKind::Binary, b"")
        .expect("no message in progress");
    drained(&mut sender);

    // The euro sign cut between fragments; a fragment that breaks it is
    // refused, and the validator is where it was before that fragment.
    sender
        .fragment(None, MessageKind::Text, b"\xe2\x82", false)
        .expect("may continue");
    let buffered = sender.buffered();
    assert_eq!(
        sender.fragment(None, MessageKind::Text, b"X", false),
        Err(BAD_UTF8)
    );
    // Cut short at the end: refused, and the message is still open.
    assert_eq!(
        sender.fragment(None, MessageKind::Text, b"", true),
        Err(BAD_UTF8)
    );
    assert_eq!(sender.buffered(), buffered);
    assert_eq!(
        sender.message(None, MessageKind::Text, b"x"),
        Err(IN_PROGRESS)
    );
    sender
        .fragment(None, MessageKind::Text, b"\xac", true)
        .expect("completes the sign");
    let sent = frames(&drained(&mut sender));
    let text: Vec<u8> = sent.iter().flat_map(|f| f.payload.clone()).collect();
    assert_eq!(text, "€".as_bytes());
    assert_eq!(sent.len(), 2);
}

#[test]
fn an_owned_payload_is_masked_in_place_when_unique_and_copied_when_shared() {
    let original: Vec<u8> = (0..BY_REFERENCE_MIN + 10).map(|i| i as u8).collect();
    // Unique: masked in its own memory, which the outbox then shows.
    let (mut sender, mut extras) = new_sender(Role::Client, usize::MAX);
    let payload = Bytes::from(original.clone());
    let at = payload.as_ptr();
    sender
        .message_owned(extras.as_mut(), MessageKind::Binary, payload)
        .expect("queued");
    let mut chunks = [&[][..]; 4];
    assert_eq!(sender.pending_chunks(&mut chunks), 2, "header, payload");
    assert_eq!(chunks[1].as_ptr(), at, "not copied");
    assert_ne!(chunks[1], &original[..], "masked");
    let sent = frames(&drained(&mut sender));
    assert_eq!(sent[0].payload, original);

    // Shared: others still see the bytes unmasked; a masked copy goes out.
    let (mut sender, mut extras) = new_sender(Role::Client, usize::MAX);
    let payload = Bytes::from(original.clone());
    let other = payload.clone();
    sender
        .message_owned(extras.as_mut(), MessageKind::Binary, payload)
        .expect("queued");
    assert_eq!(other, original, "the shared buffer was masked");
    assert!(other.is_unique(), "the outbox holds a copy, not the buffer");
    assert_eq!(frames(&drained(&mut sender))[0].payload, original);

    // A server holds it as it is until written.
    let (mut sender, _) = new_sender(Role::Server, usize::MAX);
    let payload = Bytes::from(original.clone());
    let mine = payload.clone();
    sender
        .message_owned(None, MessageKind::Binary, payload)
        .expect("queued");
    assert!(!mine.is_unique());
    sender.advance(4 + original.len() - 1);
    assert!(!mine.is_unique(), "one byte left");
    sender.advance(1);
    assert!(mine.is_unique(), "let go once written");
}

#[test]
fn an_in_place_payload_is_finished_before_anything_owed() {
    for role in [Role::Server, Role::Client] {
        let original = [5u8; 300];
        for written in [0, 1, 299, 300] {
            let (mut sender, mut extras) = new_sender(role, usize::MAX);
            let mut payload = original;
            let owed = sender
                .message_in_place(extras.as_mut(), MessageKind::Binary, &mut payload)
                .expect("queued");
            assert!(owed, "the caller writes the payload");
            // Only the header waits; the caller writes it and `written`
            // bytes of the payload, then hands back the rest.
            let mut wire = sender.pending().to_vec();
            assert_eq!(wire.len(), sender.buffered());
            sender.advance(wire.len());
            wire.extend_from_slice(&payload[..written]);
            sender.append_payload(&payload[written..]);
            sender
                .owe(extras.as_mut(), OpCode::Pong, b"p", false)
                .expect("owed");
            wire.extend(drained(&mut sender));
            let sent = frames(&wire);
            assert_eq!(sent.len(), 2, "{role:?}, {written} written");
            assert_eq!(sent[0].payload, original, "masked in place for a client");
            assert_eq!(
                (sent[1].opcode, &sent[1].payload[..]),
                (OpCode::Pong, &b"p"[..])
            );
        }
    }
}

#[test]
fn a_client_without_keys_queues_nothing() {
    struct Broken;
    impl EntropySource for Broken {
        fn fill(&mut self, _: &mut [u8]) -> Result<(), EntropyError> {
            Err(EntropyError::new(Some(5)))
        }
    }
    let broken = || Some(SendExtras::with_keys(Keys::Custom(Box::new(Broken))));
    for mut extras in [None, broken()] {
        let mut sender = Sender::new(Role::Client, usize::MAX);
        let failed = |result: Result<(), SendError>| matches!(result, Err(SendError::Entropy(_)));
        assert!(failed(sender.message(
            extras.as_mut(),
            MessageKind::Text,
            b"x"
        )));
        let first = sender.fragment(extras.as_mut(), MessageKind::Text, b"x", false);
        assert!(failed(first));
        // The failed first fragment started no message.
        assert!(failed(sender.message(
            extras.as_mut(),
            MessageKind::Text,
            b"x"
        )));
        assert!(
            sender
                .owe(extras.as_mut(), OpCode::Pong, b"", false)
                .is_err()
        );
        assert_eq!(sender.buffered(), 0);
    }
}

#[cfg(feature = "deflate")]
#[test]
fn compressed_fragments_carry_rsv1_on_the_first_frame_only() {
    use crate::deflate::{DeflateConfig, Inflater, tests::params};
    let p = params(15, 15, false, false);
    let config = DeflateConfig {
        min_compress_len: 32,
        ..DeflateConfig::default()
    };
    let mut extras = Some(SendExtras::default());
    if let Some(extras) = &mut extras {
        extras.enable_deflate(Deflater::new(&p, &config));
    }
    let mut sender = Sender::new(Role::Server, usize::MAX);
    let text = "compress me, compress me, compress me, compress me".as_bytes();
    sender
        .message(extras.as_mut(), MessageKind::Text, b"short")
        .expect("queued");
    sender
        .message(extras.as_mut(), MessageKind::Text, text)
        .expect("queued");
    // Fragments are compressed whatever their size.
    sender
        .fragment(extras.as_mut(), MessageKind::Text, b"ab", false)
        .expect("queued");
    sender
        .fragment(extras.as_mut(), MessageKind::Text, b"cd", true)
        .expect("queued");
    let sent = frames(&drained(&mut sender));
    let shape: Vec<_> = sent.iter().map(|f| (f.rsv, f.opcode)).collect();
    assert_eq!(
        shape,
        [
            (0, OpCode::Text),
            (RSV1, OpCode::Text),
            (RSV1, OpCode::Text),
            (0, OpCode::Continuation),
        ]
    );
    assert_eq!(sent[0].payload, b"short");
    let mut inflater = Inflater::new(&p, None);
    let mut inflate = |payload: &[u8]| {
        inflater.push(payload);
        inflater.finish();
        let mut out = vec![0; 1024];
        let step = inflater.inflate(&mut out);
        assert!(step.done && !step.invalid);
        out.truncate(step.written);
        out
    };
    assert_eq!(inflate(&sent[1].payload), text);
    let fragments = [&sent[2].payload[..], &sent[3].payload[..]].concat();
    assert_eq!(inflate(&fragments), b"abcd");
}
