//! Decode, encode and the primitives, wsproto next to tungstenite and
//! fastwebsockets on the same inputs in the same run (criterion).
//!
//! ```sh
//! cargo bench --bench codec                 # everything (~4 minutes)
//! cargo bench --bench codec -- decode/binary/125
//! ```
//!
//! - `decode/{binary,text_ascii,text_mixed}/SIZE`: a server decodes masked
//!   frames of SIZE bytes from an in-memory source where every read is one
//!   memcpy (standing in for the kernel's copy). wsproto is measured at both
//!   receive levels: `stream` (`recv_in_place`, payload unmasked in the read
//!   buffer) and `message` (`recv` + `poll_event`, an owned message each).
//! - `encode/{server,client}/SIZE`: binary frames written into a sink that
//!   copies each byte once (standing in for the kernel's copy). wsproto is
//!   measured with `send_binary` (payload copied into the connection),
//!   `send_in_place` (header queued, payload written from the caller's
//!   buffer with one vectored write) and `send_binary_owned` (`owned`: each
//!   payload a fresh buffer handed over, queued by reference from 1 KiB, a
//!   client's masked in place; header and payload in one vectored write;
//!   a client with the default `OsEntropy` keys, the other rows with a
//!   fixed key). `memcpy` is the ceiling: each frame's bytes, as on the
//!   wire, copied once into the same sink.
//! - `primitives/*`: 1 MiB of memcpy, unmasking and UTF-8 validation: the
//!   ceilings the decode figures are held to.
//! - `deflate/*`: permessage-deflate, compressible JSON-like text, decoded
//!   (both levels) and encoded by wsproto next to zlib alone (flate2 on the
//!   same backend) inflating and deflating the same text: the peers have no
//!   permessage-deflate to compare with.
//!
//! Each benchmark reports bytes/s and messages/s. CI only builds this
//! (`cargo bench --no-run`); the figures are in `docs/performance.md`.

use std::hint::black_box;
use std::io::{self, IoSlice, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

// The shared helpers; this bench replays its wire endlessly and so has its
// own transport (`Source`), not `peers::Mem`.
#[allow(dead_code)]
#[path = "support/peers.rs"]
mod peers;

use peers::{FixedEntropy, KEY, block_on, masked_frames};

#[path = "support/decoders.rs"]
mod decoders;

use decoders::*;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsproto::frame::apply_mask;
use wsproto::{Config, Connection, MessageKind, Role, StreamEvent};

const SIZES: [usize; 5] = [16, 125, 1024, 64 << 10, 1 << 20];

/// Owned payloads made per timed batch in the `*_owned` rows: few enough
/// (at most 64, at most 256 KiB) that they are still in cache when sent,
/// as the other rows' one payload buffer is.
fn owned_batch(size: usize) -> usize {
    ((256 << 10) / size).clamp(1, 64)
}

/// A sink that copies every byte it is given once, into a buffer it
/// reuses (the kernel's copy into a socket buffer).
struct Sink {
    buf: Vec<u8>,
    len: usize,
}

impl Sink {
    fn new() -> Self {
        Sink {
            buf: vec![0; 4 << 20],
            len: 0,
        }
    }

    fn copy(&mut self, bytes: &[u8]) -> usize {
        if self.len + bytes.len() > self.buf.len() {
            self.len = 0;
        }
        let n = bytes.len().min(self.buf.len());
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        n
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.copy(buf))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Ok(bufs.iter().map(|b| self.copy(b)).sum())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Sink {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Ok(0)
    }
}

impl AsyncWrite for Sink {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.get_mut().copy(buf)))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        Poll::Ready(Ok(bufs.iter().map(|b| this.copy(b)).sum()))
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Sink {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn decode(c: &mut Criterion) {
    for kind in [Payload::Binary, Payload::TextAscii, Payload::TextMixed] {
        let mut group = c.benchmark_group(format!("decode/{}", kind.name()));
        for size in SIZES {
            let count = frames_per_iter(size);
            let payload = kind.bytes(size);
            let wire = masked_frames(kind.message_kind(), &payload, count);
            let expected = size * count;
            group.throughput(Throughput::ElementsAndBytes {
                elements: count as u64,
                bytes: expected as u64,
            });
            let mut stream = WsprotoStream::new(wire.clone());
            group.bench_function(BenchmarkId::new("wsproto_stream", size), |b| {
                b.iter(|| assert_eq!(stream.messages(count), expected))
            });
            let mut owned = WsprotoOwned::new(wire.clone());
            group.bench_function(BenchmarkId::new("wsproto_owned", size), |b| {
                b.iter(|| assert_eq!(owned.messages(count), expected))
            });
            let mut message = WsprotoMessage::new(wire.clone());
            group.bench_function(BenchmarkId::new("wsproto_message", size), |b| {
                b.iter(|| assert_eq!(message.messages(count), expected))
            });
            let mut tung = tungstenite_server(wire.clone());
            group.bench_function(BenchmarkId::new("tungstenite", size), |b| {
                b.iter(|| assert_eq!(tungstenite_messages(&mut tung, count), expected))
            });
            let mut fws = fastwebsockets_server(wire.clone());
            group.bench_function(BenchmarkId::new("fastwebsockets", size), |b| {
                b.iter(|| assert_eq!(fastwebsockets_messages(&mut fws, count), expected))
            });
            let mut collector = fastwebsockets::FragmentCollector::new(fastwebsockets_server(wire));
            group.bench_function(BenchmarkId::new("fastwebsockets_collected", size), |b| {
                b.iter(|| assert_eq!(fastwebsockets_collected(&mut collector, count), expected))
            });
        }
        group.finish();
    }
}

fn encode(c: &mut Criterion) {
    for (role_name, client) in [("server", false), ("client", true)] {
        let mut group = c.benchmark_group(format!("encode/{role_name}"));
        for size in SIZES {
            let count = frames_per_iter(size);
            let mut payload = Payload::Binary.bytes(size);
            group.throughput(Throughput::ElementsAndBytes {
                elements: count as u64,
                bytes: (size * count) as u64,
            });

            let role = if client { Role::Client } else { Role::Server };

            // The ceiling: each frame's bytes (header and payload, as on the
            // wire) copied once into the same sink.
            let mut encoder =
                Connection::with_entropy(role, Config::default(), Box::new(FixedEntropy));
            encoder.send_binary(&payload).expect("encodes");
            let mut frame = Vec::new();
            encoder.poll_transmit(&mut frame);
            let mut ceiling = Sink::new();
            group.bench_function(BenchmarkId::new("memcpy", size), |b| {
                b.iter(|| {
                    for _ in 0..count {
                        ceiling.copy(black_box(&frame));
                    }
                })
            });

            let mut conn =
                Connection::with_entropy(role, Config::default(), Box::new(FixedEntropy));
            let mut sink = Sink::new();
            group.bench_function(BenchmarkId::new("wsproto", size), |b| {
                b.iter(|| {
                    for _ in 0..count {
                        conn.send_binary(&payload).expect("encodes");
                        let n = sink.copy(conn.pending_transmit());
                        conn.advance_transmit(n);
                    }
                })
            });
            // The payload stays in the caller's buffer: header and payload
            // go out in one vectored write, the sink's copy the only one.
            group.bench_function(BenchmarkId::new("wsproto_in_place", size), |b| {
                b.iter(|| {
                    for _ in 0..count {
                        let mut out = conn
                            .send_in_place(MessageKind::Binary, &mut payload)
                            .expect("encodes");
                        let n = sink
                            .write_vectored(&out.chunks().map(IoSlice::new))
                            .expect("in memory");
                        out.advance(n);
                    }
                })
            });

            // Owned payloads, as fastwebsockets writes owned frames: each
            // frame's payload a `Vec` of its own (as `fastwebsockets_owned`
            // is given, so making it `Bytes` is timed as the API's work)
            // that the connection takes and lets go once written (made, a
            // few at a time so they are
            // as hot as the others' one buffer, outside the timed part),
            // the default mask source (`Connection::new`: OsEntropy),
            // header and payload in one vectored write.
            let mut owned = Connection::new(role, Config::default());
            group.bench_function(BenchmarkId::new("wsproto_owned", size), |b| {
                b.iter_custom(|iters| {
                    time_owned(
                        iters,
                        count,
                        size,
                        || payload.clone(),
                        |frame| {
                            owned.send_binary_owned(frame).expect("encodes");
                            write_vectored(&mut owned, &mut sink);
                        },
                    )
                })
            });

            let tung_role = if client {
                tungstenite::protocol::Role::Client
            } else {
                tungstenite::protocol::Role::Server
            };
            let mut tung = tungstenite::WebSocket::from_raw_socket(Sink::new(), tung_role, None);
            let shared = tungstenite::Bytes::from(payload.clone());
            group.bench_function(BenchmarkId::new("tungstenite", size), |b| {
                b.iter(|| {
                    for _ in 0..count {
                        tung.send(tungstenite::Message::Binary(shared.clone()))
                            .expect("encodes");
                    }
                })
            });

            let fws_role = if client {
                fastwebsockets::Role::Client
            } else {
                fastwebsockets::Role::Server
            };
            let mut fws = fastwebsockets::WebSocket::after_handshake(Sink::new(), fws_role);
            group.bench_function(BenchmarkId::new("fastwebsockets", size), |b| {
                b.iter(|| {
                    for _ in 0..count {
                        // Borrowed mutably: a client masks in place, as
                        // wsproto masks its own copy.
                        let frame = fastwebsockets::Frame::binary(
                            fastwebsockets::Payload::BorrowedMut(&mut payload),
                        );
                        block_on(fws.write_frame(frame)).expect("encodes");
                    }
                })
            });

            // The same owned buffers handed to fastwebsockets
            // (`Payload::Owned`), made and let go as for `wsproto_owned`.
            let mut fws_owned = fastwebsockets::WebSocket::after_handshake(Sink::new(), fws_role);
            group.bench_function(BenchmarkId::new("fastwebsockets_owned", size), |b| {
                b.iter_custom(|iters| {
                    time_owned(
                        iters,
                        count,
                        size,
                        || payload.clone(),
                        |owned| {
                            let frame = fastwebsockets::Frame::binary(
                                fastwebsockets::Payload::Owned(owned),
                            );
                            block_on(fws_owned.write_frame(frame)).expect("encodes");
                        },
                    )
                })
            });
        }
        group.finish();
    }
}

/// Times sending `count` owned payloads `iters` times: the payloads are
/// made (by `make`) a batch at a time outside the timed part, so they are
/// as hot as the other rows' one buffer, and each is handed to `send`.
fn time_owned<P>(
    iters: u64,
    count: usize,
    size: usize,
    mut make: impl FnMut() -> P,
    mut send: impl FnMut(P),
) -> Duration {
    let mut timed = Duration::ZERO;
    let mut batch = Vec::with_capacity(owned_batch(size));
    for _ in 0..iters {
        let mut left = count;
        while left > 0 {
            let n = left.min(owned_batch(size));
            left -= n;
            batch.extend((0..n).map(|_| make()));
            let start = Instant::now();
            batch.drain(..).for_each(&mut send);
            timed += start.elapsed();
        }
    }
    timed
}

/// Writes what `conn` holds into `sink`, one vectored write of its next
/// chunks at a time (one for a frame and its payload).
fn write_vectored(conn: &mut Connection, sink: &mut Sink) {
    loop {
        let mut chunks = [&[][..]; 4];
        let n = conn.pending_transmit_chunks(&mut chunks);
        if n == 0 {
            return;
        }
        let slices = chunks.map(IoSlice::new);
        let written = sink.write_vectored(&slices[..n]).expect("in memory");
        conn.advance_transmit(written);
    }
}

fn primitives(c: &mut Criterion) {
    const LEN: usize = 1 << 20;
    let mut group = c.benchmark_group("primitives");
    group.throughput(Throughput::Bytes(LEN as u64));
    let source = Payload::Binary.bytes(LEN);
    let mut dest = vec![0u8; LEN];
    group.bench_function("memcpy", |b| {
        b.iter(|| dest.copy_from_slice(black_box(&source)))
    });
    group.bench_function("unmask/wsproto", |b| {
        b.iter(|| apply_mask(black_box(&mut dest), KEY, 0))
    });
    group.bench_function("unmask/fastwebsockets", |b| {
        b.iter(|| fastwebsockets::unmask(black_box(&mut dest), KEY))
    });
    group.bench_function("memcpy+unmask/wsproto", |b| {
        b.iter(|| {
            dest.copy_from_slice(black_box(&source));
            apply_mask(&mut dest, KEY, 0);
        })
    });

    // UTF-8 through wsproto's real path: a client reads an unmasked 1 MiB
    // text frame in place (header, then validation; nothing to unmask).
    let text = Payload::TextMixed.bytes(LEN);
    let mut server = Connection::new(Role::Server, Config::default());
    server
        .send_text(std::str::from_utf8(&text).expect("text"))
        .expect("encodes");
    let mut frame = Vec::new();
    server.poll_transmit(&mut frame);
    let mut client =
        Connection::with_entropy(Role::Client, Config::default(), Box::new(FixedEntropy))
            .into_streaming();
    let frame_len = frame.len();
    group.bench_function("utf8_mixed/wsproto", |b| {
        b.iter(|| {
            let (used, event) = client.recv_in_place(&mut frame).expect("valid");
            assert!(matches!(event, Some(StreamEvent::Data { fin: true, .. })));
            assert_eq!(used, frame_len);
        })
    });
    group.bench_function("utf8_mixed/std", |b| {
        b.iter(|| assert!(std::str::from_utf8(black_box(&text)).is_ok()))
    });
    let ascii = Payload::TextAscii.bytes(LEN);
    group.bench_function("utf8_ascii/std", |b| {
        b.iter(|| assert!(std::str::from_utf8(black_box(&ascii)).is_ok()))
    });
    group.finish();
}

/// Compressible text: JSON-like records, as chat or API traffic is.
#[cfg(feature = "deflate")]
fn json_text(size: usize) -> Vec<u8> {
    let mut text = String::with_capacity(size + 100);
    let mut id = 0;
    while text.len() < size {
        text.push_str(&format!(
            r#"{{"id":{id},"user":"user{}","tags":["news","sport"],"text":"the quick brown fox {}"}},"#,
            id % 97,
            id * 7919 % 1000
        ));
        id += 1;
    }
    text.truncate(size);
    text.into_bytes()
}

/// permessage-deflate: wsproto's compressed paths against zlib itself
/// (flate2 on the same zlib-rs backend), the ceiling they are held to.
/// The client compresses without context takeover so that every message
/// stands alone and the server can decode the same wire over and over.
#[cfg(feature = "deflate")]
fn deflate(c: &mut Criterion) {
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
    use wsproto::{DeflateParams, DeflatePool};

    // Ours: window 15, context kept; the peer's: window 15, reset.
    let server_params = DeflateParams::new(15, 15, false, true).expect("valid");
    for size in [125usize, 16 << 10, 1 << 20] {
        let count = frames_per_iter(size);
        let text = json_text(size);
        let mut group = c.benchmark_group("deflate");
        group.throughput(Throughput::ElementsAndBytes {
            elements: count as u64,
            bytes: (size * count) as u64,
        });
        let mut client = Connection::with_deflate(
            Role::Client,
            Config::default(),
            server_params.mirrored(),
            Box::new(FixedEntropy),
        );
        let mut wire = Vec::new();
        for _ in 0..count {
            client
                .send_text(std::str::from_utf8(&text).expect("text"))
                .expect("encodes");
            client.poll_transmit(&mut wire);
        }
        let server = || {
            Connection::with_deflate(
                Role::Server,
                Config::default(),
                server_params,
                Box::new(FixedEntropy),
            )
        };
        let mut stream = WsprotoStream::new(wire.clone());
        stream.conn = server().into_streaming();
        group.bench_function(BenchmarkId::new("decode/wsproto_stream", size), |b| {
            b.iter(|| assert_eq!(stream.messages(count), size * count))
        });
        let mut message = WsprotoMessage::new(wire);
        message.conn = server();
        group.bench_function(BenchmarkId::new("decode/wsproto_message", size), |b| {
            b.iter(|| assert_eq!(message.messages(count), size * count))
        });
        // The same with a `DeflatePool`: the peer resets its window, so
        // each message borrows the decompressor instead of allocating it.
        let mut pooled = Config::default();
        pooled.deflate.pool = Some(DeflatePool::new(1));
        message.conn =
            Connection::with_deflate(Role::Server, pooled, server_params, Box::new(FixedEntropy));
        group.bench_function(BenchmarkId::new("decode/wsproto_message_pool", size), |b| {
            b.iter(|| assert_eq!(message.messages(count), size * count))
        });

        // zlib alone: the same text compressed the same way, inflated into
        // a reused buffer.
        let mut compress = Compress::new(Compression::new(6), false);
        let mut compressed = Vec::with_capacity(size + 64);
        compress
            .compress_vec(&text, &mut compressed, FlushCompress::Sync)
            .expect("compresses");
        let mut decompress = Decompress::new(false);
        let mut out = vec![0u8; size + 64];
        group.bench_function(BenchmarkId::new("decode/zlib_inflate", size), |b| {
            b.iter(|| {
                for _ in 0..count {
                    decompress.reset(false);
                    decompress
                        .decompress(&compressed, &mut out, FlushDecompress::Sync)
                        .expect("inflates");
                    assert_eq!(decompress.total_out() as usize, size);
                }
            })
        });

        let mut sender = server();
        let mut sink = Sink::new();
        let text_str = std::str::from_utf8(&text).expect("text");
        group.bench_function(BenchmarkId::new("encode/wsproto", size), |b| {
            b.iter(|| {
                for _ in 0..count {
                    sender.send_text(text_str).expect("encodes");
                    let n = sink.copy(sender.pending_transmit());
                    sender.advance_transmit(n);
                }
            })
        });
        // Without context takeover, the compressor is made for every
        // message, or borrowed from a pool.
        let no_takeover = DeflateParams::new(15, 15, true, true).expect("valid");
        for (name, pool) in [
            ("encode/wsproto_no_takeover", None),
            ("encode/wsproto_no_takeover_pool", Some(DeflatePool::new(1))),
        ] {
            let mut config = Config::default();
            config.deflate.pool = pool;
            let mut sender =
                Connection::with_deflate(Role::Server, config, no_takeover, Box::new(FixedEntropy));
            group.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter(|| {
                    for _ in 0..count {
                        sender.send_text(text_str).expect("encodes");
                        let n = sink.copy(sender.pending_transmit());
                        sender.advance_transmit(n);
                    }
                })
            });
        }
        let mut compress = Compress::new(Compression::new(6), false);
        let mut out = Vec::with_capacity(size + 64);
        group.bench_function(BenchmarkId::new("encode/zlib_deflate", size), |b| {
            b.iter(|| {
                for _ in 0..count {
                    out.clear();
                    compress
                        .compress_vec(&text, &mut out, FlushCompress::Sync)
                        .expect("compresses");
                    sink.copy(&out);
                }
            })
        });
        group.finish();
    }
}

#[cfg(not(feature = "deflate"))]
fn deflate(_: &mut Criterion) {}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_millis(700))
        .sample_size(20);
    targets = decode, encode, primitives, deflate
}
criterion_main!(benches);
