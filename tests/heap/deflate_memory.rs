//! What permessage-deflate costs in memory, measured with a counting
//! allocator: the state each window size allocates (the table in
//! `src/deflate/mod.rs` and `docs/security.md`), nothing for an idle
//! connection, and a 10 GB bomb held to `max_message_len`.
//!
//! One test function, so no other test allocates while it measures; the
//! allocator (`counting.rs`) counts per thread, so neither do the tests of
//! the other files in this binary.
#![cfg(feature = "deflate")]

use crate::common;
use crate::counting;

use common::{ScriptedEntropy, limits};
use wsproto::{
    Config, Connection, ConnectionError, DeflateParams, DeflatePool, Event, ProtocolError, Role,
    StreamEvent,
};

/// Heap this thread holds now, and the peak since the last call.
fn held() -> usize {
    let now = counting::held();
    counting::reset_peak();
    now
}

fn peak() -> usize {
    counting::peak()
}

fn connection(role: Role, config: Config, bits: u8) -> Connection {
    let params = DeflateParams::new(bits, bits, false, false).expect("valid bits");
    Connection::with_deflate(role, config, params, Box::new(ScriptedEntropy::xorshift()))
}

/// A compressed server frame carrying `payload` (RSV1, unmasked).
fn server_rsv1(payload: &[u8]) -> Vec<u8> {
    common::frame(
        true,
        0b100,
        common::OP_BINARY,
        payload,
        None,
        common::LenEncoding::Minimal,
    )
}

/// Heap a connection gains when it first compresses, and when it first
/// inflates, with `bits`-bit windows.
fn state_cost(bits: u8) -> (usize, usize) {
    let message = vec![b'x'; 4096];
    let mut sender = connection(Role::Server, Config::default(), bits);
    let mut receiver = connection(Role::Client, Config::default(), bits);
    let mut wire = Vec::with_capacity(8192);
    let mut out = Vec::with_capacity(8192);
    // Warm the outbox and message buffers with an uncompressed message.
    sender.send_binary(b"tiny").unwrap();
    sender.poll_transmit(&mut wire);
    receiver.recv(&wire);
    receiver.poll_event().unwrap();
    wire.clear();

    let before = held();
    sender.send_binary(&message).unwrap();
    let compressor = held() - before;
    sender.poll_transmit(&mut out);
    let before = held();
    receiver.recv(&out);
    let Ok(Some(Event::Binary(received))) = receiver.poll_event() else {
        panic!("no message");
    };
    // The message's buffer, seen through its only handle.
    let received = received.try_into_mut().expect("the message's only handle");
    assert!(
        received.capacity() <= 2 * message.len(),
        "{}",
        received.capacity()
    );
    // What is still held once the message is dropped is the decompressor's.
    drop(received);
    let decompressor = held() - before;
    (compressor, decompressor)
}

#[test]
fn memory_of_permessage_deflate() {
    // An idle connection with deflate negotiated holds no zlib state.
    let before = held();
    let idle = connection(Role::Server, Config::default(), 15);
    let idle_heap = held() - before;
    drop(idle);
    assert!(idle_heap < 1024, "idle connection holds {idle_heap} bytes");

    println!("| window bits | compressor | decompressor |");
    let mut costs = Vec::new();
    for bits in [8, 9, 10, 12, 15] {
        let (compressor, decompressor) = state_cost(bits);
        println!(
            "| {bits} | {} KiB | {} KiB |",
            compressor / 1024,
            decompressor / 1024
        );
        costs.push((bits, compressor, decompressor));
    }
    let at = |bits| costs.iter().find(|c| c.0 == bits).copied().unwrap();
    // The compressor's window and its hash chains grow with the bits (four
    // bytes per window byte); zlib-rs's decompressor always allocates a
    // 32 KiB window.
    assert!(at(15).1 - at(9).1 >= 96 << 10, "{costs:?}");
    assert!(at(15).2 == at(9).2, "{costs:?}");
    // Upper bounds the docs promise.
    assert!(at(15).1 < 400 << 10 && at(15).2 < 64 << 10, "{costs:?}");
    // 8 bits is made with 9 (zlib's raw minimum).
    assert_eq!((at(8).1, at(8).2), (at(9).1, at(9).2));

    // Without context takeover the state is freed after every message.
    let params = DeflateParams::new(15, 15, true, true).unwrap();
    let entropy = || Box::new(ScriptedEntropy::xorshift());
    let mut sender = Connection::with_deflate(Role::Server, Config::default(), params, entropy());
    let mut receiver = Connection::with_deflate(
        Role::Client,
        Config::default(),
        params.mirrored(),
        entropy(),
    );
    let mut wire = Vec::with_capacity(1 << 16);
    sender.send_binary(b"tiny").unwrap(); // warm the outbox
    sender.poll_transmit(&mut wire);
    receiver.recv(&wire);
    receiver.poll_event().unwrap();
    wire.clear();
    let before = held();
    for _ in 0..3 {
        sender.send_binary(&[b'y'; 4096]).unwrap();
        sender.poll_transmit(&mut wire);
        receiver.recv(&wire);
        wire.clear();
        assert!(matches!(receiver.poll_event(), Ok(Some(Event::Binary(_)))));
        assert!(peak() - before > 250 << 10, "the state was allocated");
        let idle = held().saturating_sub(before);
        println!("no context takeover: {idle} bytes held between messages");
        assert!(idle < 8 << 10, "{idle} bytes held between messages");
    }

    drop((sender, receiver));

    // With a pool, the state is made once and lent to every message after,
    // on any connection: a new pair of connections per round, and no round
    // after the first allocates a compressor or a decompressor.
    let pool = DeflatePool::new(4);
    let mut config = Config::default();
    config.deflate.pool = Some(pool.clone());
    let mut held_by_pool = 0;
    for round in 0..4 {
        let before = held();
        let mut sender = Connection::with_deflate(Role::Server, config.clone(), params, entropy());
        let mut receiver =
            Connection::with_deflate(Role::Client, config.clone(), params.mirrored(), entropy());
        sender.send_binary(&[b'z'; 4096]).unwrap();
        sender.poll_transmit(&mut wire);
        receiver.recv(&wire);
        wire.clear();
        assert!(matches!(receiver.poll_event(), Ok(Some(Event::Binary(_)))));
        drop((sender, receiver));
        let grown = peak() - before;
        println!("pooled, round {round}: peak heap +{grown} bytes");
        if round == 0 {
            assert!(grown > 250 << 10, "the state was made: +{grown}");
            held_by_pool = held() - before;
        } else {
            assert!(grown < 64 << 10, "round {round} made state: +{grown}");
            assert_eq!(held() - before, 0, "round {round} held more");
        }
        assert_eq!(
            (pool.spare_compressors(), pool.spare_decompressors()),
            (1, 1)
        );
    }
    // What the pool holds is the two states, and it goes when cleared.
    assert!(
        (400 << 10..500 << 10).contains(&held_by_pool),
        "{held_by_pool}"
    );
    // (Round 0 may also have made some lazily allocated state of another
    // crate, a few hundred bytes, depending on the features in the build.)
    let before = held();
    pool.clear();
    let freed = before - held();
    assert!(
        freed <= held_by_pool && held_by_pool - freed < 1024,
        "{freed} of {held_by_pool}"
    );

    // A bomb: under 10 MB that inflate to over 10 GB (1032 bytes per
    // compressed byte is DEFLATE's best), against a 16 MiB limit.
    let limit = 16u64 << 20;
    let pairs = 40_000_000; // 258 bytes each
    let frame = server_rsv1(&common::deflate_bits::bomb(pairs));
    assert!(frame.len() < 10 << 20);
    let config = limits(16 << 20, limit);

    let mut conn = connection(Role::Client, config.clone(), 15);
    let before = held();
    // Fed as a driver reads, 64 KiB at a time, polled after each: `recv`
    // holds the bytes until `poll_event` decodes them, where the bomb goes
    // off.
    let error = frame
        .chunks(64 << 10)
        .find_map(|chunk| {
            conn.recv(chunk);
            conn.poll_event().err()
        })
        .expect("the bomb is stopped");
    assert!(
        matches!(error, ConnectionError::Protocol(ProtocolError::MessageTooLong { len, max }) if max == limit && len == limit + 1),
        "{error:?}"
    );
    let grown = peak() - before;
    println!("message level: bomb stopped at {limit} bytes, peak heap +{grown} bytes");
    assert!(grown as u64 <= limit + (1 << 20), "peak +{grown}");
    drop(conn);

    let mut conn = connection(Role::Client, config, 15).into_streaming();
    let mut buf = frame.clone();
    let before = held();
    let mut at = 0;
    let mut inflated = 0u64;
    let error = loop {
        match conn.recv_in_place(&mut buf[at..]) {
            Ok((used, Some(StreamEvent::Data { payload, .. }))) => {
                at += used;
                inflated += payload.len() as u64;
            }
            Ok((used, other)) => panic!("{used} {other:?}"),
            Err(error) => break error,
        }
    };
    let grown = peak() - before;
    println!("streaming level: {inflated} bytes handed out, peak heap +{grown} bytes");
    assert_eq!(
        error,
        ProtocolError::MessageTooLong {
            len: limit + 1,
            max: limit
        }
        .into()
    );
    assert_eq!(inflated, limit);
    assert!(grown < 256 << 10, "peak +{grown}");
}
