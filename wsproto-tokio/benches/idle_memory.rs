//! Memory per idle connection at 10,000 connections: wsproto-tokio,
//! tokio-tungstenite and fastwebsockets, each a server task parked in its
//! receive call after the opening handshake and one echoed message.
//!
//! ```sh
//! cargo bench -p wsproto-tokio --bench idle_memory
//! IDLE_CONNECTIONS=1000 IDLE_MESSAGE=16384 cargo bench -p wsproto-tokio --bench idle_memory
//! ```
//!
//! `cargo test --benches` and CI only build this: without cargo bench's
//! `--bench` argument it returns at once.
//!
//! **What runs.** Each subject runs in a child process of its own (this
//! binary again), so that no subject inherits another's heap or freed
//! pages. In it, a server on a current-thread tokio runtime (its own
//! thread) accepts on 127.0.0.1 with the servers of the echo bench
//! (`support/mod.rs`, each library's default configuration): the upgrade in
//! the task the listener spawned, then the echo loop in a task of its own
//! that holds only the `WebSocket`. The clients are another child process
//! (the same for every subject): blocking `std::net` sockets, opened one
//! after the other; each upgrades, sends one masked binary message (16 B,
//! `IDLE_MESSAGE`), checks the echo byte for byte and stays open. Two
//! processes, not one: the 20,000 descriptors of 10,000 connections
//! (`IDLE_CONNECTIONS`) with both ends in one process are more than the
//! hard RLIMIT_NOFILE of this machine (20,000, which an unprivileged
//! process cannot raise); each child raises its soft limit to the
//! connection count plus 256 and fails with a clear message if it cannot.
//! The server child's figures then hold nothing of the clients'.
//!
//! **What is counted.** A counting global allocator keeps the live heap
//! bytes (as requested, without the allocator's own overhead) and live
//! blocks. They, and VmRSS from /proc/self/status, are read once the
//! server is listening (the baseline) and again once every connection is
//! echoed and parked: after that the heap must stay the same for three
//! readings 50 ms apart, with only the echo loops alive on the runtime.
//! The difference over the connection count is the cost of one idle
//! connection, everything included: tokio's task for the loop, the socket
//! and its registration with the reactor, the `WebSocket`.
//!
//! The control subject, `plain TcpStream`, does the same handshake and echo
//! by hand, then parks a task holding only the `TcpStream` on
//! `readable()`: tokio's task and the socket's registration, without a
//! WebSocket. "Heap - plain" subtracts it: what the WebSocket adds, the
//! size of its state in the parked task's future included (the future is
//! allocated with the task). RSS adds the allocator's overhead and slack,
//! and pages that the kernel counts as the process's; it is shown whole and
//! less the control's.
//!
//! Besides each library's defaults, a row for wsproto-tokio with a 30 s
//! keepalive (what its echo server example runs): the timer that takes.
//! tokio-tungstenite keeps its read buffer (`read_buffer_size`, 128 KiB by
//! default) allocated while idle: smaller buffers are a configuration
//! away, but the rows show the defaults.

#[allow(dead_code)]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, mpsc};
use std::time::Duration;
use std::{env, io, thread};

use tokio::net::{TcpListener, TcpStream};
use wsproto_tokio::Acceptor;

use support::{Frames, Kind, invalid, setting};

/// Wraps the system allocator to count live bytes and blocks.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; only counters are
// added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Relaxed);
            LIVE_BLOCKS.fetch_add(1, Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Relaxed);
            LIVE_BLOCKS.fetch_add(1, Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as `alloc`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
        LIVE_BLOCKS.fetch_sub(1, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `alloc`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
            LIVE_BYTES.fetch_add(new_size, Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What is measured, one child process each.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Subject {
    /// The control: a task parked on `TcpStream::readable()`.
    Plain,
    /// A library with its defaults.
    Library(Kind),
    /// wsproto-tokio with a 30 s keepalive.
    WsprotoKeepalive,
}

const SUBJECTS: [Subject; 5] = [
    Subject::Plain,
    Subject::Library(Kind::WsprotoTokio),
    Subject::WsprotoKeepalive,
    Subject::Library(Kind::Tungstenite),
    Subject::Library(Kind::Fastwebsockets),
];

impl Subject {
    fn name(self) -> &'static str {
        match self {
            Subject::Plain => "plain TcpStream",
            Subject::Library(kind) => kind.name(),
            Subject::WsprotoKeepalive => "wsproto-tokio, keepalive 30 s",
        }
    }
}

/// A child's totals over all its connections.
#[derive(Clone, Copy)]
struct Totals {
    heap: i64,
    blocks: i64,
    rss: i64,
    /// The size of the parked task's future, as spawned.
    future: i64,
}

/// Set for a server child: the index of its subject.
const SERVER_ENV: &str = "IDLE_MEMORY_SERVER";
/// Set for a client child: the server's address.
const CLIENT_ENV: &str = "IDLE_MEMORY_CLIENT";

fn main() -> ExitCode {
    // cargo bench passes `--bench`; `cargo test --benches` does not, and
    // then nothing is measured.
    if !env::args().any(|arg| arg == "--bench") {
        return ExitCode::SUCCESS;
    }
    let connections = setting("IDLE_CONNECTIONS", 10_000);
    let message = setting("IDLE_MESSAGE", 16);
    if let Ok(index) = env::var(SERVER_ENV) {
        let subject = SUBJECTS[index.parse::<usize>().expect("a subject index")];
        return match server_child(subject, connections, message) {
            Ok(totals) => {
                println!(
                    "RESULT {} {} {} {}",
                    totals.heap, totals.blocks, totals.rss, totals.future
                );
                // Exit at once: tearing 10,000 connections down is not measured.
                std::process::exit(0)
            }
            Err(error) => {
                eprintln!("idle_memory server ({}): {error}", subject.name());
                ExitCode::FAILURE
            }
        };
    }
    if let Ok(addr) = env::var(CLIENT_ENV) {
        let addr = addr.parse().expect("the server's address");
        return match client_child(addr, connections, message) {
            Ok(()) => std::process::exit(0),
            Err(error) => {
                eprintln!("idle_memory client: {error}");
                ExitCode::FAILURE
            }
        };
    }

    let mut results = Vec::new();
    for (index, subject) in SUBJECTS.iter().enumerate() {
        eprintln!("{}: {connections} connections...", subject.name());
        match run_subject(index) {
            Ok(totals) => results.push((*subject, totals)),
            Err(error) => {
                eprintln!("idle_memory: {}: {error}", subject.name());
                return ExitCode::FAILURE;
            }
        }
    }
    print_table(&results, connections, message);
    println!(
        "size_of: wsproto_tokio::WebSocket<TcpStream> {}, of which wsproto::Connection {}; \
         tokio_tungstenite::WebSocketStream<TcpStream> {}; \
         fastwebsockets::FragmentCollector<TcpStream> {}",
        size_of::<wsproto_tokio::WebSocket<TcpStream>>(),
        size_of::<wsproto::Connection>(),
        size_of::<tokio_tungstenite::WebSocketStream<TcpStream>>(),
        size_of::<fastwebsockets::FragmentCollector<TcpStream>>(),
    );
    ExitCode::SUCCESS
}

/// Runs one subject: its server child, then a client child that opens the
/// connections; the server child measures once they are all up.
fn run_subject(index: usize) -> io::Result<Totals> {
    let child = |var: &str, value: String| {
        Command::new(env::current_exe()?)
            .arg("--bench")
            .env(var, value)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
    };
    // Both are ended by closing their standard input, or killed if this
    // returns early; either way waited for.
    struct Reaped(Child);
    impl Drop for Reaped {
        fn drop(&mut self) {
            drop(self.0.stdin.take());
            if self.0.wait().is_err() {
                let _ = self.0.kill();
            }
        }
    }
    let line = |child: &mut Reaped, prefix: &str| -> io::Result<String> {
        let mut line = String::new();
        let stdout = child.0.stdout.as_mut().expect("piped");
        // One line at a time, unbuffered: a child says little.
        let mut byte = [0];
        while stdout.read(&mut byte)? == 1 && byte[0] != b'\n' {
            line.push(char::from(byte[0]));
        }
        line.strip_prefix(prefix)
            .map(str::to_owned)
            .ok_or_else(|| io::Error::other(format!("a child failed (said {line:?})")))
    };
    let mut server = Reaped(child(SERVER_ENV, index.to_string())?);
    let addr = line(&mut server, "LISTENING ")?;
    let mut client = Reaped(child(CLIENT_ENV, addr)?);
    line(&mut client, "READY")?;
    writeln!(server.0.stdin.as_mut().expect("piped"), "measure")?;
    let result = line(&mut server, "RESULT ")?;
    let n: Vec<i64> = result
        .split(' ')
        .map(|v| v.parse().map_err(io::Error::other))
        .collect::<io::Result<_>>()?;
    Ok(Totals {
        heap: n[0],
        blocks: n[1],
        rss: n[2],
        future: n[3],
    })
}

fn print_table(results: &[(Subject, Totals)], connections: usize, message: usize) {
    let per = |v: i64| v as f64 / connections as f64;
    let plain = results
        .iter()
        .find(|(s, _)| *s == Subject::Plain)
        .expect("the control")
        .1;
    println!(
        "Memory per idle connection: {connections} connections, each upgraded, one {message}-byte \
         message echoed, the server parked in its receive call"
    );
    println!(
        "{:<30} {:>10} {:>8} {:>12} {:>10} {:>12} {:>8}",
        "server", "heap", "blocks", "heap - plain", "RSS", "RSS - plain", "future"
    );
    for (subject, totals) in results {
        let (heap, rss) = (per(totals.heap), per(totals.rss));
        let minus = |ours: f64, control: f64| {
            if *subject == Subject::Plain {
                "-".to_owned()
            } else {
                format!("{:.0}", ours - control)
            }
        };
        println!(
            "{:<30} {:>10.0} {:>8.1} {:>12} {:>10.0} {:>12} {:>8}",
            subject.name(),
            heap,
            per(totals.blocks),
            minus(heap, per(plain.heap)),
            rss,
            minus(rss, per(plain.rss)),
            totals.future,
        );
    }
    println!(
        "bytes per connection; heap: live bytes requested from the allocator; blocks: live \
         allocations; RSS: VmRSS growth; future: size of the parked task's future (in its heap)"
    );
}

/// One subject: the server, the connections, the counters.
/// A server child: the server, the baseline, then (once told that the
/// client child has opened every connection) the counters again.
fn server_child(subject: Subject, connections: usize, message: usize) -> io::Result<Totals> {
    support::raise_nofile(connections as u64 + 256).map_err(io::Error::other)?;
    let frames = Arc::new(Frames::encode(message));
    let (addr_tx, addr_rx) = mpsc::channel();
    let (handle_tx, handle_rx) = mpsc::channel();
    // The server thread runs until the process exits.
    thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        handle_tx.send(runtime.handle().clone()).expect("send");
        runtime.block_on(serve(subject, frames, addr_tx));
    });
    let addr: SocketAddr = addr_rx.recv().expect("the server's address");
    let handle = handle_rx.recv().expect("the runtime's handle");
    thread::sleep(Duration::from_millis(100));
    let (heap0, blocks0, rss0) = (live_bytes(), live_blocks(), rss()?);
    println!("LISTENING {addr}");
    io::stdout().flush()?;
    let mut told = String::new();
    io::stdin().read_line(&mut told)?;
    if told.trim() != "measure" {
        return Err(io::Error::other("the client child failed"));
    }

    // Settled: only the parked loops are alive (the upgrade tasks ended)
    // and the heap stays put for three readings in a row.
    let mut last = (usize::MAX, 0);
    for _ in 0..200 {
        thread::sleep(Duration::from_millis(50));
        let now = live_bytes();
        let alive = handle.metrics().num_alive_tasks();
        if now == last.0 && alive == connections {
            last.1 += 1;
            if last.1 == 2 {
                return Ok(Totals {
                    heap: now as i64 - heap0 as i64,
                    blocks: live_blocks() as i64 - blocks0 as i64,
                    rss: rss()? as i64 - rss0 as i64,
                    future: support::LOOP_FUTURE_SIZE.load(Relaxed) as i64,
                });
            }
        } else {
            last = (now, 0);
        }
    }
    Err(io::Error::other(format!(
        "never settled: {} tasks alive, heap still moving",
        handle.metrics().num_alive_tasks()
    )))
}

/// A client child: opens every connection one after the other (upgrade,
/// one message, its echo checked byte for byte), says so, and keeps them
/// open until its standard input closes.
fn client_child(addr: SocketAddr, connections: usize, message: usize) -> io::Result<()> {
    support::raise_nofile(connections as u64 + 256).map_err(io::Error::other)?;
    let frames = Frames::encode(message);
    let request = support::upgrade_request(addr);
    let mut clients = Vec::with_capacity(connections);
    let mut echo = vec![0; frames.echo.len()];
    let mut head = Vec::with_capacity(support::MAX_RESPONSE_HEAD);
    for _ in 0..connections {
        let mut tcp = StdTcpStream::connect(addr)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        tcp.write_all(&request)?;
        head.clear();
        let mut byte = [0; 1];
        // Byte by byte: nothing past the head may be taken.
        while !head.ends_with(b"\r\n\r\n") && head.len() < support::MAX_RESPONSE_HEAD {
            if tcp.read(&mut byte)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            head.push(byte[0]);
        }
        support::check_upgrade_response(&head)?;
        tcp.write_all(&frames.frame)?;
        tcp.read_exact(&mut echo)?;
        if echo != frames.echo {
            return Err(invalid(format!("wrong echo: {:02x?}", &echo[..8])));
        }
        clients.push(tcp);
    }
    println!("READY");
    io::stdout().flush()?;
    io::copy(&mut io::stdin(), &mut io::sink())?;
    // Exit with the connections open: the server is no longer measured.
    std::mem::forget(clients);
    Ok(())
}

/// The server: every accepted connection upgraded and echoed by
/// `subject`'s code, then parked.
async fn serve(subject: Subject, frames: Arc<Frames>, addr_tx: mpsc::Sender<SocketAddr>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    addr_tx
        .send(listener.local_addr().expect("local address"))
        .expect("send the address");
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("accept: {error}");
                return;
            }
        };
        match subject {
            Subject::Library(kind) => {
                tokio::spawn(support::accept_and_spawn(kind, tcp, failed));
            }
            Subject::WsprotoKeepalive => {
                tokio::spawn(async move {
                    let mut config = wsproto::Config::default();
                    config.keepalive_interval = Some(Duration::from_secs(30));
                    let _ = tcp.set_nodelay(true);
                    match Acceptor::new().config(config).accept(tcp).await {
                        Ok(ws) => support::spawn_loop(support::wsproto_tokio_echo(ws, failed)),
                        Err(error) => failed(Kind::WsprotoTokio, error.to_string()),
                    }
                });
            }
            Subject::Plain => {
                let frames = frames.clone();
                tokio::spawn(async move {
                    match plain_upgrade_and_echo(tcp, frames).await {
                        Ok(tcp) => support::spawn_loop(park(tcp)),
                        Err(error) => eprintln!("plain server: {error}"),
                    }
                });
            }
        }
    }
}

/// A server connection that failed before the process exits.
fn failed(kind: Kind, error: String) {
    eprintln!("{} server: {error}", kind.name());
}

/// The control's upgrade and echo, by hand (the core's handshake; the
/// message's echo is the expected bytes, not decoded: the control's cost
/// is that of a parked socket task, not of any WebSocket code).
async fn plain_upgrade_and_echo(mut tcp: TcpStream, frames: Arc<Frames>) -> io::Result<TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tcp.set_nodelay(true);
    let config = wsproto::Config::default();
    let mut handshake = wsproto::handshake::ServerHandshake::new(&config);
    let mut buf = vec![0; 4096];
    let request = loop {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(request) = handshake.recv(&buf[..n]).map_err(io::Error::other)? {
            break request;
        }
    };
    let accept = wsproto::handshake::Accept::new();
    let response = request.accept(&accept).map_err(io::Error::other)?;
    tcp.write_all(&response.to_bytes()).await?;
    let mut frame = vec![0; frames.frame.len()];
    tcp.read_exact(&mut frame).await?;
    tcp.write_all(&frames.echo).await?;
    Ok(tcp)
}

/// Waits on the socket until the client goes (only at the process's exit).
/// An `async move` block, as the loops in `support`.
#[allow(clippy::manual_async_fn)]
fn park(tcp: TcpStream) -> impl Future<Output = ()> + Send + 'static {
    async move {
        loop {
            if tcp.readable().await.is_err() {
                return;
            }
            // Not held across the wait: no part of the parked task.
            let mut buf = [0; 64];
            match tcp.try_read(&mut buf) {
                Ok(0) => return,
                Err(error) if error.kind() != io::ErrorKind::WouldBlock => return,
                _ => {}
            }
        }
    }
}

fn live_bytes() -> usize {
    LIVE_BYTES.load(Relaxed)
}

fn live_blocks() -> isize {
    LIVE_BLOCKS.load(Relaxed)
}

/// VmRSS from /proc/self/status, in bytes.
fn rss() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| io::Error::other("no VmRSS in /proc/self/status"))
}
