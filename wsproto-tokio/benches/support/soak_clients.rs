//! The soak's clients, each a loop on a thread of its own with blocking
//! sockets and the core's client `Connection`: what they send, and what
//! they check of the answers. Every check that fails is an error that
//! ends the soak.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use wsproto::handshake::{ClientHandshake, ClientRequest};
use wsproto::{CloseCode, Config, Connection, Control, Event};

use crate::support::invalid;

/// How long any one read or write may block.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Counts of what the clients did, for the report.
#[derive(Default)]
pub struct Tally {
    pub echoes: AtomicU64,
    pub echoed_bytes: AtomicU64,
    pub pongs: AtomicU64,
    pub connections: AtomicU64,
    pub vanished: AtomicU64,
    pub refused: AtomicU64,
}

/// A small deterministic generator (sizes, contents, choices).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A message size: mostly small, sometimes up to 64 KiB, rarely 1 MiB.
    fn size(&mut self) -> usize {
        match self.below(100) {
            0 => 1 << 20,
            1..=9 => self.below(64 << 10) as usize,
            _ => self.below(512) as usize,
        }
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let seed = self.next();
        (0..len)
            .map(|i| (seed.wrapping_add(i as u64 * 0x9e37) >> 13) as u8)
            .collect()
    }
}

/// A connection from the client's side.
struct Client {
    tcp: TcpStream,
    conn: Connection,
    buf: Vec<u8>,
}

impl Client {
    /// Connects and upgrades, offering permessage-deflate if `deflate`.
    fn open(addr: SocketAddr, deflate: bool) -> io::Result<Client> {
        let mut config = Config::default();
        config.deflate.enabled = deflate;
        config.max_message_len = 2 << 20;
        let request = ClientRequest::new(&format!("ws://{addr}/soak")).map_err(io::Error::other)?;
        let mut handshake = ClientHandshake::new(&request, config).map_err(io::Error::other)?;
        let mut tcp = TcpStream::connect(addr)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))?;
        tcp.write_all(handshake.request_bytes())?;
        let mut buf = vec![0; 64 << 10];
        loop {
            let n = tcp.read(&mut buf)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if let Some(upgraded) = handshake.recv(&buf[..n]).map_err(io::Error::other)? {
                return Ok(Client {
                    tcp,
                    conn: upgraded.into_connection(),
                    buf,
                });
            }
        }
    }

    fn write_out(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        self.conn.poll_transmit(&mut out);
        self.tcp.write_all(&out)
    }

    /// The next event, reading as needed.
    fn event(&mut self) -> io::Result<Event> {
        loop {
            if let Some(event) = self.conn.poll_event().map_err(io::Error::other)? {
                // Pongs to the server's keepalive pings go out at once.
                self.write_out()?;
                return Ok(event);
            }
            let n = self.tcp.read(&mut self.buf)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.conn.recv(&self.buf[..n]);
        }
    }

    /// The next data message's payload (pings from the server skipped).
    fn message(&mut self) -> io::Result<Vec<u8>> {
        loop {
            match self.event()? {
                Event::Binary(data) => return Ok(data.to_vec()),
                Event::Text(text) => return Ok(text.as_bytes().to_vec()),
                Event::Control(Control::Ping(_)) => {}
                other => return Err(invalid(format!("expected an echo, got {other:?}"))),
            }
        }
    }

    /// Closes cleanly: our close, its echo, then the server's end of TCP.
    fn close(mut self) -> io::Result<()> {
        self.conn
            .close(std::time::Instant::now(), CloseCode::NORMAL, "soak done")
            .map_err(io::Error::other)?;
        self.write_out()?;
        loop {
            // Echoes still on their way, and pings, come first.
            if let Event::Control(Control::Close(frame)) = self.event()? {
                if frame.code() != CloseCode::NORMAL {
                    return Err(invalid(format!("close echo {:?}", frame.code())));
                }
                break;
            }
        }
        match self.tcp.read(&mut self.buf)? {
            0 => Ok(()),
            n => Err(invalid(format!("{n} bytes after the close echo"))),
        }
    }
}

/// One echo client's connection: a few messages of random sizes (some
/// pipelined), a ping now and then, every answer checked, a clean close.
pub fn echo_round(addr: SocketAddr, rng: &mut Rng, tally: &Tally) -> io::Result<()> {
    let mut client = Client::open(addr, rng.below(3) == 0)?;
    tally.connections.fetch_add(1, Relaxed);
    for _ in 0..1 + rng.below(20) {
        let burst = 1 + rng.below(4) as usize;
        let sent: Vec<Vec<u8>> = (0..burst)
            .map(|_| {
                let size = rng.size();
                rng.bytes(size)
            })
            .collect();
        for payload in &sent {
            client.conn.send_binary(payload).map_err(io::Error::other)?;
        }
        let ping = rng.below(5) == 0;
        if ping {
            client.conn.send_ping(b"soak").map_err(io::Error::other)?;
        }
        client.write_out()?;
        let mut pong_seen = !ping;
        for payload in &sent {
            let echo = loop {
                match client.event()? {
                    Event::Binary(data) => break data.to_vec(),
                    Event::Control(Control::Pong(data)) if &data[..] == b"soak" => {
                        pong_seen = true;
                        tally.pongs.fetch_add(1, Relaxed);
                    }
                    Event::Control(Control::Ping(_)) => {}
                    other => return Err(invalid(format!("expected an echo, got {other:?}"))),
                }
            };
            if echo != *payload {
                return Err(invalid(format!(
                    "echo of {} bytes differs (got {} bytes)",
                    payload.len(),
                    echo.len()
                )));
            }
            tally.echoes.fetch_add(1, Relaxed);
            tally.echoed_bytes.fetch_add(payload.len() as u64, Relaxed);
        }
        while !pong_seen {
            match client.event()? {
                Event::Control(Control::Pong(data)) if &data[..] == b"soak" => {
                    pong_seen = true;
                    tally.pongs.fetch_add(1, Relaxed);
                }
                Event::Control(Control::Ping(_)) => {}
                other => return Err(invalid(format!("expected the pong, got {other:?}"))),
            }
        }
    }
    client.close()
}

/// A client that reads nothing while it sends 16 messages of 64 KiB, waits,
/// then reads and checks every echo.
pub fn slow_reader_round(addr: SocketAddr, rng: &mut Rng, tally: &Tally) -> io::Result<()> {
    let mut client = Client::open(addr, false)?;
    tally.connections.fetch_add(1, Relaxed);
    let sent: Vec<Vec<u8>> = (0..16).map(|_| rng.bytes(64 << 10)).collect();
    for payload in &sent {
        client.conn.send_binary(payload).map_err(io::Error::other)?;
        client.write_out()?;
    }
    std::thread::sleep(Duration::from_millis(500 + rng.below(1000)));
    for payload in &sent {
        if client.message()? != *payload {
            return Err(invalid("a slow reader's echo differs".to_owned()));
        }
        tally.echoes.fetch_add(1, Relaxed);
        tally.echoed_bytes.fetch_add(payload.len() as u64, Relaxed);
    }
    client.close()
}

/// A client that vanishes: half a large message, then gone (a reset or a
/// plain end of TCP, by turns).
pub fn vanish_round(addr: SocketAddr, rng: &mut Rng, tally: &Tally) -> io::Result<()> {
    let mut client = Client::open(addr, rng.below(2) == 0)?;
    let payload = rng.bytes(256 << 10);
    client
        .conn
        .send_binary(&payload)
        .map_err(io::Error::other)?;
    let mut out = Vec::new();
    client.conn.poll_transmit(&mut out);
    let cut = 1 + rng.below(out.len() as u64 - 1) as usize;
    client.tcp.write_all(&out[..cut])?;
    if rng.below(2) == 0 {
        // Unread input at close: the kernel sends a reset.
        client
            .tcp
            .set_read_timeout(Some(Duration::from_millis(1)))?;
        let _ = client.tcp.read(&mut [0; 1]);
    } else {
        client.tcp.shutdown(Shutdown::Both)?;
    }
    tally.vanished.fetch_add(1, Relaxed);
    Ok(())
}

/// A client that breaks the rules: a bad frame after the upgrade (closed
/// with its code), or a bad or half request (refused, or 408 later: not
/// waited for).
pub fn bad_round(addr: SocketAddr, rng: &mut Rng, tally: &Tally) -> io::Result<()> {
    match rng.below(4) {
        0 | 1 => {
            let mut client = Client::open(addr, false)?;
            let (bad, code): (Vec<u8>, u16) = if rng.below(2) == 0 {
                // A reserved opcode, masked.
                (vec![0x83, 0x80, 1, 2, 3, 4], 1002)
            } else {
                // Text that is not UTF-8 (masked with zeros).
                (vec![0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28], 1007)
            };
            client.tcp.write_all(&bad)?;
            match client.event()? {
                Event::Control(Control::Close(frame)) if frame.code().0 == code => {}
                other => return Err(invalid(format!("expected close {code}, got {other:?}"))),
            }
            tally.refused.fetch_add(1, Relaxed);
            Ok(())
        }
        2 => {
            // Not a WebSocket request: a complete 400.
            let mut tcp = TcpStream::connect(addr)?;
            tcp.set_read_timeout(Some(IO_TIMEOUT))?;
            tcp.write_all(b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n")?;
            let mut answer = Vec::new();
            tcp.read_to_end(&mut answer)?;
            if !answer.starts_with(b"HTTP/1.1 400 ") {
                return Err(invalid(format!(
                    "expected 400, got {:?}",
                    String::from_utf8_lossy(&answer[..answer.len().min(40)])
                )));
            }
            tally.refused.fetch_add(1, Relaxed);
            Ok(())
        }
        _ => {
            // Half a request, then gone.
            let mut tcp = TcpStream::connect(addr)?;
            tcp.write_all(b"GET / HTTP/1.1\r\nHost: soak\r\nUpgrade: web")?;
            tally.vanished.fetch_add(1, Relaxed);
            Ok(())
        }
    }
}
