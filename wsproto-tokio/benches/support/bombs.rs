//! Concurrent deflate bombs against a server process, with a well-behaved
//! client echoing all along: the server's peak RSS growth, how each bomb
//! was closed, and whether every echo came back exact.
//!
//! Each bomb is one permessage-deflate message (no context takeover
//! offered) that inflates to `bytes` zero bytes from about `bytes / 1032`
//! on the wire (`tests/common/deflate_bits.rs`), sent the way that costs a
//! server most: every bomb first sends the part that inflates to 60 MiB,
//! just under the servers' `max_message_len` (64 MiB), so that each holds
//! that much at once; one second later, all send the rest. Each bomb reads
//! (on a thread of its own, from the start) until the server ends TCP, and
//! records the close code it got. The good client sends a 64-byte binary
//! message, checks its echo byte for byte, and sends the next, until every
//! bomb is done.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use wsproto::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask};
use wsproto::handshake::{ClientHandshake, ClientRequest};
use wsproto::{Config, Event};

use crate::deflate_bits;
use crate::processes::ServerProcess;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// What the first part of each bomb inflates to.
const FIRST_PART: u64 = 60 << 20;

/// What one run of bombs found.
pub struct BombFigures {
    /// VmHWM at the end less VmRSS before the bombs, bytes.
    pub peak_growth: i64,
    /// VmRSS once every bomb's first part was sent, less VmRSS before.
    pub holding: i64,
    /// Close codes the bombs got (`None`: no close frame), in order.
    pub codes: Vec<Option<u16>>,
    /// Echoes the good client got back, all exact.
    pub echoes: u64,
}

/// The bomb frame (masked, RSV1, `bytes` once inflated) and where its
/// first part ends.
fn bomb_frame(bytes: u64) -> (Vec<u8>, usize) {
    let payload = deflate_bits::bomb((bytes / 258) as usize);
    let header = FrameHeader {
        fin: true,
        rsv: 0b100,
        opcode: OpCode::Binary,
        mask: Some(MASK),
        payload_len: payload.len() as u64,
    };
    let mut head = [0u8; MAX_HEADER_LEN];
    let len = header.encode(&mut head);
    let mut frame = head[..len].to_vec();
    frame.extend_from_slice(&payload);
    apply_mask(&mut frame[len..], MASK, 0);
    // Two bits per 258 bytes, after the block's header (a few bytes).
    let first = len + 16 + (FIRST_PART.min(bytes) / 258 / 4) as usize;
    let first = first.min(frame.len());
    (frame, first)
}

/// Connects and upgrades; `deflate` offers permessage-deflate without
/// context takeover. Returns the stream and any bytes read past the head.
fn upgrade(addr: SocketAddr, deflate: bool) -> io::Result<(TcpStream, wsproto::Connection)> {
    let mut config = Config::default();
    if deflate {
        config.deflate.enabled = true;
        config.deflate.no_context_takeover = true;
        config.deflate.peer_no_context_takeover = true;
    }
    let request = ClientRequest::new(&format!("ws://{addr}/")).map_err(io::Error::other)?;
    let mut handshake = ClientHandshake::new(&request, config).map_err(io::Error::other)?;
    let mut tcp = TcpStream::connect(addr)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
    tcp.write_all(handshake.request_bytes())?;
    let mut buf = [0; 4096];
    loop {
        let n = tcp.read(&mut buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(upgraded) = handshake.recv(&buf[..n]).map_err(io::Error::other)? {
            if deflate && upgraded.deflate().is_none() {
                return Err(io::Error::other("permessage-deflate refused"));
            }
            return Ok((tcp, upgraded.into_connection()));
        }
    }
}

/// Reads until the server ends TCP; the code of the close frame it sent.
fn close_code(mut tcp: TcpStream, mut conn: wsproto::Connection) -> io::Result<Option<u16>> {
    let mut buf = vec![0; 64 << 10];
    let mut code = None;
    loop {
        let n = match tcp.read(&mut buf) {
            Ok(n) => n,
            // The server may reset a connection it stopped reading.
            Err(error) if error.kind() == io::ErrorKind::ConnectionReset => 0,
            Err(error) => return Err(error),
        };
        if n == 0 {
            conn.recv_eof();
        } else {
            conn.recv(&buf[..n]);
        }
        while let Ok(Some(event)) = conn.poll_event() {
            if let Event::Control(wsproto::Control::Close(frame)) = event {
                code = Some(frame.code().0);
            }
        }
        if n == 0 {
            return Ok(code);
        }
    }
}

/// Writes `part`; `false` if the server had closed the connection.
fn write_part(tcp: &mut TcpStream, part: &[u8]) -> io::Result<bool> {
    match tcp.write_all(part) {
        Ok(()) => Ok(true),
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ) =>
        {
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

/// `count` bombs of `bytes` each at once against `server`.
pub fn run(server: &ServerProcess, count: usize, bytes: u64) -> io::Result<BombFigures> {
    let frame = Arc::new(bomb_frame(bytes));
    let before = server.settled_rss()?;
    let done = Arc::new(AtomicBool::new(false));
    let echoes = Arc::new(AtomicU64::new(0));
    let good = {
        let (done, echoes, addr) = (done.clone(), echoes.clone(), server.addr);
        thread::spawn(move || -> io::Result<()> {
            let (mut tcp, mut conn) = upgrade(addr, false)?;
            let mut buf = [0; 4096];
            let mut out = Vec::new();
            let mut n: u8 = 0;
            while !done.load(Relaxed) {
                n = n.wrapping_add(1);
                let message = [n; 64];
                conn.send_binary(&message).map_err(io::Error::other)?;
                conn.poll_transmit(&mut out);
                tcp.write_all(&out)?;
                out.clear();
                loop {
                    match conn.poll_event().map_err(io::Error::other)? {
                        Some(Event::Binary(echo)) if echo[..] == message => break,
                        Some(other) => return Err(io::Error::other(format!("echo: {other:?}"))),
                        None => {
                            let read = tcp.read(&mut buf)?;
                            if read == 0 {
                                return Err(io::ErrorKind::UnexpectedEof.into());
                            }
                            conn.recv(&buf[..read]);
                        }
                    }
                }
                echoes.fetch_add(1, Relaxed);
            }
            Ok(())
        })
    };
    // The bombs and this thread: once after the first parts, once before
    // the rest.
    let sent = Arc::new(Barrier::new(count + 1));
    let resume = Arc::new(Barrier::new(count + 1));
    let bombs: Vec<_> = (0..count)
        .map(|_| {
            let (frame, addr) = (frame.clone(), server.addr);
            let (sent, resume) = (sent.clone(), resume.clone());
            thread::spawn(move || -> io::Result<Option<u16>> {
                let (mut tcp, conn) = upgrade(addr, true)?;
                let reader = tcp.try_clone()?;
                let reading = thread::spawn(move || close_code(reader, conn));
                let (frame, first) = (&frame.0, frame.1);
                let written = write_part(&mut tcp, &frame[..first]);
                sent.wait();
                resume.wait();
                if written? {
                    write_part(&mut tcp, &frame[first..])?;
                }
                reading
                    .join()
                    .map_err(|_| io::Error::other("a bomb's reader panicked"))?
            })
        })
        .collect();
    sent.wait();
    thread::sleep(Duration::from_secs(1));
    let holding = server.rss()? - before;
    resume.wait();
    let mut codes = Vec::with_capacity(count);
    for bomb in bombs {
        codes.push(
            bomb.join()
                .map_err(|_| io::Error::other("a bomb thread panicked"))??,
        );
    }
    done.store(true, Relaxed);
    good.join()
        .map_err(|_| io::Error::other("the good client panicked"))??;
    server.check_alive()?;
    Ok(BombFigures {
        peak_growth: server.peak_rss()? - before,
        holding,
        codes,
        echoes: echoes.load(Relaxed),
    })
}
