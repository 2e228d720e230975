//! Quick throughput figures for the core, std only: `cargo bench`.
//!
//! Decodes masked binary frames in server role, fed in 64 KiB reads, at both
//! receive levels; encodes in both roles; parses and accepts upgrade
//! requests, whole and one byte at a time (which must stay linear). The performance issue replaces this
//! with criterion groups against tungstenite and fastwebsockets.

use std::hint::black_box;
use std::time::{Duration, Instant};
use wsproto::handshake::{Accept, ServerHandshake};
use wsproto::{Config, Connection, Event, Role, StreamEvent};

const READ: usize = 64 * 1024;
const BUDGET: Duration = Duration::from_millis(400);

/// `count` masked binary frames of `size` bytes, as a client sends them.
fn wire(size: usize, count: usize) -> Vec<u8> {
    let mut client = Connection::new(Role::Client, Config::default());
    let payload = vec![0x5a; size];
    let mut wire = Vec::new();
    for _ in 0..count {
        client.send_binary(&payload).unwrap();
        client.poll_transmit(&mut wire);
    }
    wire
}

/// Runs `pass` until the budget is spent; returns passes per second.
fn rate(mut pass: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut passes = 0u64;
    while start.elapsed() < BUDGET {
        pass();
        passes += 1;
    }
    passes as f64 / start.elapsed().as_secs_f64()
}

fn report(name: &str, size: usize, count: usize, passes_per_sec: f64) {
    let msgs = passes_per_sec * count as f64;
    let mib = msgs * size as f64 / (1024.0 * 1024.0);
    println!("{name:<28} {size:>8} B  {msgs:>14.0} msg/s  {mib:>9.1} MiB/s");
}

fn main() {
    let config = Config::default();
    for size in [16usize, 125, 1024, 64 * 1024, 1 << 20] {
        let count = ((4 << 20) / size).clamp(1, 100_000);
        let input = wire(size, count);
        let mut scratch = input.clone();

        let per_sec = rate(|| {
            let mut server = Connection::new(Role::Server, config.clone());
            let mut n = 0;
            for chunk in input.chunks(READ) {
                server.recv(chunk);
                while let Ok(Some(event)) = server.poll_event() {
                    if let Event::Binary(data) = event {
                        n += data.len();
                    }
                }
            }
            black_box(n);
        });
        report("decode message level", size, count, per_sec);

        let per_sec = rate(|| {
            // The copy stands in for the kernel's copy into the read buffer.
            scratch.copy_from_slice(&input);
            let mut server = Connection::new(Role::Server, config.clone());
            let mut n = 0;
            for chunk in scratch.chunks_mut(READ) {
                let mut at = 0;
                while let Ok((used, Some(event))) = server.recv_in_place(&mut chunk[at..]) {
                    at += used;
                    if let StreamEvent::Data { payload, .. } = event {
                        n += payload.len();
                    }
                }
            }
            black_box(n);
        });
        report("decode streaming (+memcpy)", size, count, per_sec);

        for role in [Role::Server, Role::Client] {
            let payload = vec![0x5a; size];
            let mut conn = Connection::new(role, config.clone());
            let mut out = Vec::with_capacity(input.len() + 64);
            let per_sec = rate(|| {
                for _ in 0..count {
                    conn.send_binary(&payload).unwrap();
                }
                out.clear();
                conn.poll_transmit(&mut out);
                black_box(&out);
            });
            report(&format!("encode {role:?}"), size, count, per_sec);
        }
    }
    handshakes(&config);
}

/// A browser-like upgrade request padded with a cookie to `len` bytes.
fn upgrade_request(len: usize) -> Vec<u8> {
    let head = "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\n\
        Sec-WebSocket-Protocol: chat.v2, chat.v1\r\n\
        Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
        User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0\r\n";
    let cookie = len.saturating_sub(head.len() + "Cookie: \r\n\r\n".len());
    format!("{head}Cookie: {}\r\n\r\n", "c".repeat(cookie)).into_bytes()
}

fn handshakes(config: &Config) {
    for (len, step) in [(512, 512), (512, 1), (16 << 10, 16 << 10), (16 << 10, 1)] {
        let request = upgrade_request(len);
        let per_sec = rate(|| {
            let mut handshake = ServerHandshake::new(config);
            for chunk in request.chunks(step) {
                if let Ok(Some(request)) = handshake.recv(chunk) {
                    black_box(request.accept(&Accept::new().protocol("chat.v1")).ok());
                }
            }
        });
        let name = if step == 1 {
            "handshake, 1-byte reads"
        } else {
            "handshake, one read"
        };
        report(name, request.len(), 1, per_sec);
    }
}
