//! The example servers under load, each in a process of its own, next to
//! tokio-tungstenite's and fastwebsockets' servers: memory per idle
//! connection at 10,000 connections (and whether it comes back when they
//! close), the cost of permessage-deflate's context takeover per window
//! size, and echoes per second with N active clients.
//!
//! ```sh
//! scripts/load.sh                     # builds the examples, then runs this
//! LOAD_CONNECTIONS=2000 LOAD_ROUNDS=3 scripts/load.sh
//! LOAD_ONLY=mio LOAD_ROUNDS=0 scripts/load.sh  # the idle rows naming mio
//! ```
//!
//! `cargo test --benches` and CI only build this: without cargo bench's
//! `--bench` argument it returns at once. It runs the examples' release
//! binaries from `target/release/examples/` (`scripts/load.sh` builds them
//! first) and fails with a clear message if one is missing.
//!
//! **The servers.** Ours are the three example binaries unchanged: the
//! tokio `echo_server` (the driver, `#[tokio::main]`), `blocking_echo_server`
//! (a thread per connection) and `mio_echo_server` (one thread). The peers
//! are this binary again, serving with the echo bench's servers
//! (`support/mod.rs`, each library's best configuration) on a default
//! multi-thread tokio runtime, as `#[tokio::main]` builds one. Every server
//! process writes its log to `target/server_load/`.
//!
//! **Idle memory.** A fill is `LOAD_CONNECTIONS` connections opened one
//! after the other with blocking sockets from this process: each upgrades
//! (the core's client handshake), sends one 64-byte text message, checks
//! its echo, and then stays open and silent. The server's VmRSS
//! (/proc/PID/status) is read before the first fill, with the first fill
//! open, after it has been closed (a close frame, its echo, the server's
//! end of TCP), and with a second fill open. The figure of the issue is the
//! last one over the connection count: memory that the first fill left
//! behind (freed but not returned, or kept in pools) counts. Readings are
//! taken once RSS has stayed within 1% for 300 ms.
//!
//! Rows with "deflate, no takeover" offer permessage-deflate with
//! `client_no_context_takeover; server_no_context_takeover`: the message is
//! compressed both ways, and no compressor or inflater may stay allocated
//! between messages. Rows with "takeover, N bits" measure what context
//! takeover costs: a wsproto-tokio server of this binary that allows it
//! with at most N-bit windows, offered N bits both ways
//! (`LOAD_TAKEOVER_CONNECTIONS`, 1,000 by default: each holds a compressor
//! and an inflater for its life).
//!
//! **Bombs.** `LOAD_BOMBS` (50) deflate bombs of `LOAD_BOMB_MIB` (1024)
//! each, at once, against the tokio `echo_server` (its 256 MiB
//! `MemoryBudget`) and the mio one (no budget): RSS growth while they
//! hold their first 60 MiB each, peak RSS growth, how each was closed,
//! and a good client's echoes meanwhile (`support/bombs.rs`).
//! `LOAD_BOMBS=0` skips it.
//!
//! **Throughput.** `LOAD_ACTIVE` connections (100), one message of
//! `LOAD_MESSAGE` bytes (512) in flight on each, driven by the echo
//! bench's busy-polling load thread (`support/load.rs`; no extension
//! offered) for `LOAD_SECONDS` (2) per server and round, after 0.3 s of
//! warm-up; `LOAD_ROUNDS` (5) rounds, the servers' order rotating from one
//! round to the next, all server processes up all along. Reported: the
//! median echoes per second, the range, and the server's CPU time per echo
//! (utime + stime from /proc/PID/stat, so every thread of the server).

#[allow(dead_code)]
mod support;
// The load generator (its pipelined load is the echo bench's alone).
#[path = "support/bombs.rs"]
mod bombs;
#[allow(dead_code)]
#[path = "support/load.rs"]
mod load;
// Shared with the soak, which uses parts of it this bench does not.
#[allow(dead_code)]
#[path = "support/processes.rs"]
mod processes;
// The core's hand-made DEFLATE streams: the bombs.
#[allow(dead_code)]
#[path = "../../tests/common/deflate_bits.rs"]
mod deflate_bits;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use std::{env, thread};

use wsproto::handshake::{ClientHandshake, ClientRequest};
use wsproto::{Config, Connection, Event};

use load::{Load, Shared};
use processes::{ServerProcess, Start};
use support::{Kind, setting};

/// The idle connections' message: long enough to be compressed (the
/// default `min_compress_len` is 32).
const IDLE_MESSAGE: &str = "an idle connection's one message, echoed before it goes quiet....";
/// Any read or write of the load client fails after this long.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// What the client offers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Offer {
    /// No extension.
    Plain,
    /// permessage-deflate, no context takeover either way.
    NoTakeover,
    /// permessage-deflate with context takeover, windows of this many bits.
    Takeover(u8),
}

impl Offer {
    fn config(self) -> Config {
        let mut config = Config::default();
        match self {
            Offer::Plain => {}
            Offer::NoTakeover => {
                config.deflate.enabled = true;
                config.deflate.no_context_takeover = true;
                config.deflate.peer_no_context_takeover = true;
            }
            Offer::Takeover(bits) => {
                config.deflate.enabled = true;
                config.deflate.max_window_bits = bits;
                config.deflate.peer_max_window_bits = bits;
            }
        }
        config
    }

    fn label(self) -> String {
        match self {
            Offer::Plain => String::new(),
            Offer::NoTakeover => ", deflate, no takeover".to_owned(),
            Offer::Takeover(bits) => format!(", takeover, {bits} bits"),
        }
    }
}

fn main() -> ExitCode {
    if !env::args().any(|arg| arg == "--bench") {
        return ExitCode::SUCCESS;
    }
    if let Ok(index) = env::var(processes::PEER_ENV) {
        let start = processes::PEERS[index.parse::<usize>().expect("a peer index")];
        return match processes::serve_peer(start) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("server_load peer: {error}");
                ExitCode::FAILURE
            }
        };
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("server_load: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> io::Result<()> {
    let connections = setting("LOAD_CONNECTIONS", 10_000);
    let takeover_connections = setting("LOAD_TAKEOVER_CONNECTIONS", 1_000);
    support::raise_nofile(connections as u64 + 512).map_err(io::Error::other)?;
    let servers = [
        Start::Example("echo_server"),
        Start::Example("blocking_echo_server"),
        Start::Example("mio_echo_server"),
        Start::Peer(Kind::Tungstenite),
        Start::Peer(Kind::Fastwebsockets),
    ];

    println!(
        "Memory per idle connection: {connections} connections (RSS of the server process; \
         KiB = 1024 bytes)"
    );
    println!(
        "{:<44} {:>9} {:>11} {:>11} {:>10} {:>11}",
        "server", "base MiB", "fill 1 B/c", "closed KiB", "fill 2 B/c", "RSS/c fill2"
    );
    let mut rows: Vec<(Start, Offer, usize)> = servers
        .iter()
        .map(|&s| (s, Offer::Plain, connections))
        .collect();
    for &server in &servers[..3] {
        rows.push((server, Offer::NoTakeover, connections));
    }
    for bits in [15, 12, 9] {
        rows.push((
            Start::Window(bits),
            Offer::Takeover(bits),
            takeover_connections,
        ));
    }
    // `LOAD_ONLY`: the rows whose label contains it.
    let only = env::var("LOAD_ONLY").unwrap_or_default();
    for (start, offer, count) in rows {
        let label = format!(
            "{}{}{}",
            start.name(),
            offer.label(),
            count_label(count, connections)
        );
        if !label.contains(&only) {
            continue;
        }
        let figures = idle_memory(start, offer, count)?;
        let per = |bytes: i64| bytes as f64 / count as f64;
        println!(
            "{:<44} {:>9.1} {:>11.0} {:>11.0} {:>10.0} {:>11.0}",
            label,
            figures.base as f64 / 1048576.0,
            per(figures.fill1 - figures.base),
            (figures.closed - figures.base) as f64 / 1024.0,
            per(figures.fill2 - figures.base),
            per(figures.fill2),
        );
    }
    println!(
        "base: RSS before any connection; fill N B/c: RSS growth over base per connection with \
         fill N open; closed: growth over base once fill 1 has closed; RSS/c fill2: the whole \
         RSS over the connection count"
    );
    println!();
    bomb_table()?;
    println!();
    if env::var("LOAD_ROUNDS").is_ok_and(|rounds| rounds == "0") {
        return Ok(());
    }
    throughput(&servers)
}

/// `LOAD_BOMBS` deflate bombs of `LOAD_BOMB_MIB` each at once (see
/// `support/bombs.rs`), against the tokio example (a 256 MiB budget) and
/// the mio one (no budget: the driver's).
fn bomb_table() -> io::Result<()> {
    let count = setting("LOAD_BOMBS", 50);
    let mib = setting("LOAD_BOMB_MIB", 1024) as u64;
    if count == 0 {
        return Ok(());
    }
    println!(
        "{count} deflate bombs of {mib} MiB at once, each holding 60 MiB before it sends the \
         rest, and a good client echoing 64-byte messages all along"
    );
    println!(
        "{:<34} {:>14} {:>16} {:>22} {:>10}",
        "server", "holding MiB", "peak growth MiB", "closed with", "echoes"
    );
    for (start, label) in [
        (
            Start::Example("echo_server"),
            "echo_server (256 MiB budget)",
        ),
        (
            Start::Example("mio_echo_server"),
            "mio_echo_server (no budget)",
        ),
    ] {
        let server = ServerProcess::start(start)?;
        let figures = bombs::run(&server, count, mib << 20)?;
        let mut codes: Vec<(Option<u16>, usize)> = Vec::new();
        for code in &figures.codes {
            match codes.iter_mut().find(|(c, _)| c == code) {
                Some((_, n)) => *n += 1,
                None => codes.push((*code, 1)),
            }
        }
        codes.sort();
        let closed: Vec<String> = codes
            .iter()
            .map(|(code, n)| match code {
                Some(code) => format!("{n}x {code}"),
                None => format!("{n}x none"),
            })
            .collect();
        println!(
            "{:<34} {:>14.0} {:>16.0} {:>22} {:>10}",
            label,
            figures.holding as f64 / 1048576.0,
            figures.peak_growth as f64 / 1048576.0,
            closed.join(", "),
            figures.echoes
        );
    }
    println!(
        "holding: RSS growth once every bomb sent its first part; peak growth: VmHWM at the \
         end less RSS before; echoes: the good client's, every one exact"
    );
    Ok(())
}

fn count_label(count: usize, connections: usize) -> String {
    if count == connections {
        String::new()
    } else {
        format!(" ({count} c)")
    }
}

/// RSS readings of one idle-memory run, bytes.
struct IdleFigures {
    base: i64,
    fill1: i64,
    closed: i64,
    fill2: i64,
}

fn idle_memory(start: Start, offer: Offer, count: usize) -> io::Result<IdleFigures> {
    let server = ServerProcess::start(start)?;
    let base = server.settled_rss()?;
    let fill = open_fill(server.addr, offer, count)?;
    let fill1 = server.settled_rss()?;
    close_fill(fill)?;
    let closed = server.settled_rss()?;
    let fill = open_fill(server.addr, offer, count)?;
    let fill2 = server.settled_rss()?;
    server.check_alive()?;
    // Not closed: the server is killed with the connections open.
    drop(server);
    drop(fill);
    Ok(IdleFigures {
        base,
        fill1,
        closed,
        fill2,
    })
}

/// Opens `count` idle connections (see the module docs).
fn open_fill(addr: SocketAddr, offer: Offer, count: usize) -> io::Result<Vec<TcpStream>> {
    let url = format!("ws://{addr}/");
    let request = ClientRequest::new(&url).map_err(io::Error::other)?;
    let mut buf = vec![0; 16 << 10];
    let mut fill = Vec::with_capacity(count);
    for i in 0..count {
        let mut open = || -> io::Result<TcpStream> {
            let mut tcp = TcpStream::connect(addr)?;
            tcp.set_nodelay(true)?;
            tcp.set_read_timeout(Some(IO_TIMEOUT))?;
            tcp.set_write_timeout(Some(IO_TIMEOUT))?;
            let mut handshake =
                ClientHandshake::new(&request, offer.config()).map_err(io::Error::other)?;
            tcp.write_all(handshake.request_bytes())?;
            let mut conn = loop {
                let n = read_some(&mut tcp, &mut buf)?;
                if let Some(upgraded) = handshake.recv(&buf[..n]).map_err(io::Error::other)? {
                    if (offer == Offer::Plain) != upgraded.deflate().is_none() {
                        return Err(io::Error::other("permessage-deflate not as offered"));
                    }
                    break upgraded.into_connection();
                }
            };
            conn.send_text(IDLE_MESSAGE).map_err(io::Error::other)?;
            write_out(&mut tcp, &mut conn)?;
            loop {
                match conn.poll_event().map_err(io::Error::other)? {
                    Some(Event::Text(text)) if text == IDLE_MESSAGE => return Ok(tcp),
                    Some(other) => return Err(io::Error::other(format!("echo: {other:?}"))),
                    None => {
                        let n = read_some(&mut tcp, &mut buf)?;
                        conn.recv(&buf[..n]);
                    }
                }
            }
        };
        fill.push(open().map_err(|error| {
            io::Error::new(error.kind(), format!("connection {i} of {count}: {error}"))
        })?);
    }
    Ok(fill)
}

/// Closes every connection of a fill: a close frame (1000), then
/// everything the server sends (its close echo) until it ends TCP.
fn close_fill(fill: Vec<TcpStream>) -> io::Result<()> {
    let close = support::Frames::encode(0).close;
    let mut buf = [0; 256];
    for mut tcp in fill {
        tcp.write_all(&close)?;
        while read_some_or_eof(&mut tcp, &mut buf)? > 0 {}
    }
    Ok(())
}

fn read_some(tcp: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    match read_some_or_eof(tcp, buf)? {
        0 => Err(io::ErrorKind::UnexpectedEof.into()),
        n => Ok(n),
    }
}

fn read_some_or_eof(tcp: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match tcp.read(buf) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

fn write_out(tcp: &mut TcpStream, conn: &mut Connection) -> io::Result<()> {
    let mut out = Vec::new();
    conn.poll_transmit(&mut out);
    tcp.write_all(&out)
}

/// Echoes per second with `LOAD_ACTIVE` clients, every server up at once.
fn throughput(servers: &[Start]) -> io::Result<()> {
    let active = setting("LOAD_ACTIVE", 100);
    let size = setting("LOAD_MESSAGE", 512);
    let rounds = setting("LOAD_ROUNDS", 5);
    let seconds = setting("LOAD_SECONDS", 2) as u64;
    let frames = Arc::new(support::Frames::encode(size));
    let processes: Vec<ServerProcess> = servers
        .iter()
        .map(|&start| ServerProcess::start(start))
        .collect::<io::Result<_>>()?;
    // Per server: (echoes per second, server CPU seconds per echo), by round.
    let results = Mutex::new(vec![Vec::new(); servers.len()]);
    for round in 0..rounds {
        for k in 0..servers.len() {
            let i = (k + round) % servers.len();
            let server = &processes[i];
            let shared = Arc::new(Shared::default());
            let (addr, load_frames, load_shared) = (server.addr, frames.clone(), shared.clone());
            let load = thread::spawn(move || {
                load::run(addr, Load::Connections(active), &load_frames, &load_shared)
            });
            while !shared.ready.load(Relaxed) && !load.is_finished() {
                thread::sleep(Duration::from_millis(5));
            }
            thread::sleep(Duration::from_millis(300));
            let (done0, cpu0, t0) = (shared.done.load(Relaxed), server.cpu()?, Instant::now());
            thread::sleep(Duration::from_secs(seconds));
            let (done1, cpu1, t1) = (shared.done.load(Relaxed), server.cpu()?, Instant::now());
            shared.stop.store(true, Relaxed);
            load.join()
                .map_err(|_| io::Error::other("the load thread panicked"))?
                .map_err(|error| {
                    io::Error::new(error.kind(), format!("{}: {error}", servers[i].name()))
                })?;
            server.check_alive()?;
            let echoes = (done1 - done0) as f64;
            let rate = echoes / (t1 - t0).as_secs_f64();
            let cpu = (cpu1 - cpu0).as_secs_f64() / echoes.max(1.0);
            results.lock().expect("not poisoned")[i].push((rate, cpu));
        }
    }
    let results = results.into_inner().expect("not poisoned");
    println!(
        "Echoes per second: {active} connections, one {size}-byte binary message in flight on \
         each, {rounds} rounds of {seconds} s"
    );
    println!(
        "{:<24} {:>12} {:>22} {:>14}",
        "server", "echoes/s", "range", "CPU us/echo"
    );
    for (start, rounds) in servers.iter().zip(&results) {
        let rates = median_and_range(rounds.iter().map(|r| r.0).collect());
        let cpu = median_and_range(rounds.iter().map(|r| r.1 * 1e6).collect());
        println!(
            "{:<24} {:>12.0} {:>10.0} - {:<9.0} {:>14.2}",
            start.name(),
            rates.0,
            rates.1,
            rates.2,
            cpu.0
        );
    }
    Ok(())
}

/// The median, lowest and highest of `values`.
fn median_and_range(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => (0.0, 0.0, 0.0),
        n => (values[n / 2], values[0], values[n - 1]),
    }
}
