//! Loopback echo throughput through the driver: wsproto-tokio against
//! tokio-tungstenite and fastwebsockets, in messages per second.
//!
//! ```sh
//! cargo bench -p wsproto-tokio --bench driver_echo               # all rows, ~4 min
//! cargo bench -p wsproto-tokio --bench driver_echo -- pipelined  # names containing "pipelined"
//! ECHO_ROUNDS=1 ECHO_SECS=0.2 cargo bench -p wsproto-tokio --bench driver_echo  # smoke run
//! ```
//!
//! Names are `row/server`, e.g. `500conns/512B/fastwebsockets`; the filter
//! is a substring of them. `cargo test --benches` and CI only build this:
//! without cargo bench's `--bench` argument it returns at once.
//!
//! **Servers.** Three echo servers on 127.0.0.1 (`support/mod.rs`), each
//! on its own current-thread tokio runtime and thread, the same flavour for
//! all, each with a task per connection under tokio's cooperative budget
//! (none is `unconstrained`), each with `TCP_NODELAY`, each handing the
//! application owned whole messages:
//!
//! - wsproto-tokio: `Acceptor::accept`, then `recv` and `feed`; the next
//!   `recv` writes out everything fed before it waits (its echo example).
//! - tokio-tungstenite: `accept_async` (default config: 128 KiB buffers),
//!   then `next` and `feed`, `flush` once no further message is
//!   immediately ready (what `StreamExt::forward` does).
//! - fastwebsockets: a `FragmentCollector`, one `write_frame` per message,
//!   auto close and auto pong, vectored writes over 1 KiB (its defaults,
//!   its fastest: it cannot queue without writing). It leaves HTTP to
//!   hyper, so its upgrade is answered by the core's `ServerHandshake`.
//!   Handshakes are never timed.
//!
//! **Rows.** 20 B, 512 B and 16 KiB binary messages:
//!
//! - `100conns`, `500conns`: that many connections at once, each sending one
//!   message and waiting for its echo before the next (all in flight at
//!   once: the server's cost per message over many sockets);
//! - `pipelined`: one connection, up to 100 messages in flight (written in
//!   one write whenever credits come back, a credit per echo), so that the
//!   server's batching shows.
//!
//! **The load generator** (`support/load.rs`) is the same for the three:
//! one thread apart from the servers, one epoll loop (mio), frames
//! pre-encoded (masked, fixed key) by the core's client `Connection`, echoes
//! counted by length (an echo of a known message has a known length), so it
//! neither decodes nor allocates. Why not a tokio client: on this 2-core
//! machine the load cannot have more than the one core the server does not
//! use, and a tokio client costs about what a tokio server does per message
//! (its readiness model reads until `EAGAIN`, then wakes a task): in trials
//! it was as busy as the server (both at 100% of a core), so the rows
//! measured both. The epoll loop reads each echo up to its known length and
//! no further (no read ends in `EAGAIN`) and shares `epoll_wait` among all
//! ready connections: per message one `write` and about one `read`, fewer
//! system calls than any server makes.
//!
//! It never sleeps: it polls epoll without a timeout, so its CPU column
//! reads 100% by construction. On loopback the thread that writes to a
//! sleeping peer pays for waking it (the receiving side's TCP work and the
//! wake-up run inside the sender's `write`); with a load that slept in
//! `epoll_wait`, a server that fell a little behind found the load asleep
//! more often and paid for waking it on every echo, which slowed it
//! further, so which server came out ahead in the many-connection rows
//! turned on that feedback more than on the server's own work (`perf`:
//! the wake-up was in whichever server's profile was behind). A busy load
//! is never asleep: each server pays for its own work, as it would with
//! its clients on other machines. The server's CPU column then says who
//! limits a row: near 100%, the server (as it should be); well below, the
//! load (pipelined 20 B messages, for the two servers that batch).
//!
//! The first echo of every connection is compared byte for byte with the
//! expected frame, so a broken server cannot produce a fast number; a
//! close handshake ends every connection, and any server-side failure is
//! printed.
//!
//! **Method.** For each measurement the connections are opened, upgraded
//! and checked, run 250 ms of warm-up, then a timed window (1 s,
//! `ECHO_SECS`) over which completed echoes are counted, then close. The
//! servers take turns within a round, the first server rotating from round
//! to round, and each round (5, `ECHO_ROUNDS`) goes through every row, so a
//! slow phase of the machine hits all three; the table shows each median.
//! The ratio is wsproto-tokio over the better of the other two, as the
//! ratio of the medians and, beside it, as the median and range of each
//! round's own ratio (its measurements are seconds apart, so a slow or fast
//! phase of the machine hits both sides of it alike).
//! Preliminary figures from a shared machine are only that: rerun on a
//! quiet one before quoting a ratio.

#[allow(dead_code)]
mod support;
// The load generator, apart: the idle-memory bench has no use for it.
#[path = "support/load.rs"]
mod load;

use std::net::SocketAddr;
use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::Ordering::Relaxed;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use std::{env, io};

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use load::{Load, Shared};
use support::{Frames, KINDS, Kind, invalid};

const SIZES: [usize; 3] = [20, 512, 16 << 10];
const CONNECTIONS: [usize; 2] = [100, 500];
const WARMUP: Duration = Duration::from_millis(250);
/// Opening, upgrading and checking every connection of a row; and, apart,
/// closing them: a stalled server fails its measurement in this time.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy)]
enum Mode {
    /// This many connections, one message in flight on each.
    Connections(usize),
    /// One connection, up to `WINDOW` messages in flight.
    Pipelined,
}

#[derive(Clone, Copy)]
struct Row {
    mode: Mode,
    size: usize,
}

impl Row {
    fn name(&self) -> String {
        let size = if self.size >= 1024 {
            format!("{}KiB", self.size / 1024)
        } else {
            format!("{}B", self.size)
        };
        match self.mode {
            Mode::Connections(n) => format!("{n}conns/{size}"),
            Mode::Pipelined => format!("pipelined/{size}"),
        }
    }
}

/// One timed window.
#[derive(Clone, Copy)]
struct Sample {
    /// Echoes per second.
    rate: f64,
    /// CPU time over wall time, in % of one core.
    server_cpu: f64,
    client_cpu: f64,
    /// The server thread's CPU time per echo, in microseconds.
    server_us: f64,
}

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    match env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value}: not a number")),
        Err(_) => default,
    }
}

fn main() {
    // cargo bench passes `--bench`; `cargo test --benches` does not, and
    // then nothing is measured. Another argument filters by name.
    let args: Vec<String> = env::args().skip(1).collect();
    if !args.iter().any(|arg| arg == "--bench") {
        return;
    }
    let filter = args.iter().find(|arg| !arg.starts_with('-')).cloned();
    let rounds: usize = setting("ECHO_ROUNDS", 5);
    let window = Duration::from_secs_f64(setting("ECHO_SECS", 1.0));

    let mut rows = Vec::new();
    for mode in CONNECTIONS
        .map(Mode::Connections)
        .into_iter()
        .chain([Mode::Pipelined])
    {
        rows.extend(SIZES.map(|size| Row { mode, size }));
    }
    let selected = |row: &Row, kind: Kind| {
        let name = format!("{}/{}", row.name(), kind.name());
        filter.as_deref().is_none_or(|f| name.contains(f))
    };
    // 500 connections: 1,000 descriptors with both ends in this process.
    if let Err(error) = support::raise_nofile(4096) {
        eprintln!("echo bench: {error}");
        std::process::exit(1);
    }

    let servers: Vec<Server> = KINDS.map(Server::start).into();
    let frames: Vec<Frames> = SIZES.map(Frames::encode).into();
    let mut samples = vec![[const { Vec::<Sample>::new() }; 3]; rows.len()];
    let mut failed = vec![[false; 3]; rows.len()];
    for round in 0..rounds {
        eprintln!("round {}/{rounds}", round + 1);
        for (r, row) in rows.iter().enumerate() {
            let frames = &frames[SIZES.iter().position(|&s| s == row.size).expect("a size")];
            for turn in 0..KINDS.len() {
                let k = (turn + round) % KINDS.len();
                let server = &servers[k];
                if !selected(row, server.kind) || failed[r][k] {
                    continue;
                }
                match measure(server, *row, frames, window) {
                    Ok(sample) => samples[r][k].push(sample),
                    Err(error) => {
                        eprintln!("{}/{}: {error}", row.name(), server.kind.name());
                        failed[r][k] = true;
                    }
                }
            }
        }
    }

    println!(
        "echo through the driver: {rounds} round(s) of {:.1} s; messages/s (median; higher is \
         better)",
        window.as_secs_f64()
    );
    let names: Vec<String> = rows.iter().map(Row::name).collect();
    print_table(
        &names,
        &samples,
        &failed,
        |s| s.rate,
        true,
        |s| {
            format!(
                "{} ({:.0}/{:.0}%)",
                thousands(s.rate),
                s.server_cpu,
                s.client_cpu
            )
        },
    );
    println!(
        "ratio: wsproto-tokio / the better of the other two. In parentheses: the CPU the \
         server's thread / the load thread used in that window, % of a core (the load \
         busy-polls: 100% by construction)."
    );
    println!();
    println!("server thread CPU per echo, microseconds (median; lower is better)");
    print_table(
        &names,
        &samples,
        &failed,
        |s| s.server_us,
        false,
        |s| format!("{:.2}", s.server_us),
    );
    println!(
        "ratio: wsproto-tokio / the better of the other two (below 1: wsproto-tokio spends less)."
    );

    for server in servers {
        server.stop();
    }
}

/// One table: for each row, each server's median of `metric` (shown by
/// `show`), and wsproto-tokio's over the better of the other two: the
/// ratio of the medians, and the median (and range) of the rounds' own
/// ratios, each taken between measurements a few seconds apart, so that
/// the machine's slower and faster phases cancel out.
fn print_table(
    rows: &[String],
    samples: &[[Vec<Sample>; 3]],
    failed: &[[bool; 3]],
    metric: fn(&Sample) -> f64,
    higher_is_better: bool,
    show: fn(&Sample) -> String,
) {
    println!(
        "{:<17} {:>24} {:>24} {:>24} {:>6} {:>22}",
        "row", "wsproto-tokio", "tokio-tungstenite", "fastwebsockets", "ratio", "by round (range)"
    );
    for (r, row) in rows.iter().enumerate() {
        let medians: Vec<Option<Sample>> = (0..3)
            .map(|k| {
                let mut sorted = samples[r][k].clone();
                sorted.sort_by(|a, b| metric(a).total_cmp(&metric(b)));
                (!failed[r][k]).then(|| sorted.get(sorted.len() / 2).copied())?
            })
            .collect();
        if medians.iter().all(Option::is_none) {
            continue;
        }
        let better = |a: f64, b: f64| if higher_is_better { a.max(b) } else { a.min(b) };
        let best_peer = medians[1..].iter().flatten().map(metric).reduce(better);
        let ratio = match (&medians[0], best_peer) {
            (Some(ours), Some(peer)) => format!("{:.2}", metric(ours) / peer),
            _ => "-".to_owned(),
        };
        let by_round = paired_ratios(&samples[r], &failed[r], metric, better);
        let by_round = match by_round.get(by_round.len() / 2) {
            Some(median) => format!(
                "{median:.2} ({:.2}-{:.2})",
                by_round[0],
                by_round[by_round.len() - 1]
            ),
            None => "-".to_owned(),
        };
        let cells: Vec<String> = medians
            .iter()
            .map(|m| m.as_ref().map_or("-".to_owned(), show))
            .collect();
        println!(
            "{:<17} {:>24} {:>24} {:>24} {:>6} {:>22}",
            row, cells[0], cells[1], cells[2], ratio, by_round
        );
    }
}

/// For each round in which wsproto-tokio and a peer were both measured,
/// wsproto-tokio's `metric` over the better peer's in that round; sorted.
fn paired_ratios(
    samples: &[Vec<Sample>; 3],
    failed: &[bool; 3],
    metric: fn(&Sample) -> f64,
    better: impl Fn(f64, f64) -> f64,
) -> Vec<f64> {
    // A server that failed stopped being measured: its rounds stop there.
    let rounds = samples.iter().map(Vec::len).min().unwrap_or(0);
    let mut ratios: Vec<f64> = (0..rounds)
        .filter(|_| !failed[0])
        .filter_map(|round| {
            let peer = (1..3)
                .filter(|&k| !failed[k])
                .map(|k| metric(&samples[k][round]))
                .reduce(&better)?;
            Some(metric(&samples[0][round]) / peer)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios
}

/// With thousands separators: the columns are compared by eye.
fn thousands(value: f64) -> String {
    let digits = format!("{value:.0}");
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

// ---------------------------------------------------------------------------
// The servers

/// An echo server on its own current-thread runtime and thread.
struct Server {
    kind: Kind,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl Server {
    fn start(kind: Kind) -> Server {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, mut stopped) = oneshot::channel::<()>();
        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                addr_tx
                    .send(listener.local_addr().expect("local address"))
                    .expect("send the address");
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => match accepted {
                            Ok((tcp, _)) => {
                                tokio::spawn(support::accept_and_spawn(kind, tcp, report));
                            }
                            Err(error) => eprintln!("{} server: accept: {error}", kind.name()),
                        },
                    }
                }
            });
            // Dropping the runtime cancels any connection still open.
        });
        let addr = addr_rx.recv().expect("the server's address");
        Server {
            kind,
            addr,
            stop,
            thread,
        }
    }

    /// The CPU time of the server's thread (its runtime runs on it alone).
    fn cpu_time(&self) -> Duration {
        support::thread_cpu_time(self.thread.as_pthread_t())
    }

    fn stop(self) {
        let _ = self.stop.send(());
        self.thread.join().expect("server thread panicked");
    }
}

/// A server connection that did not end with a clean close (the client
/// fails that measurement too).
fn report(kind: Kind, error: String) {
    eprintln!("{} server: {error}", kind.name());
}

// ---------------------------------------------------------------------------
// The controller

/// A point in time, for a rate and CPU shares between two of them.
struct Snapshot {
    at: Instant,
    done: u64,
    server: Duration,
    client: Duration,
}

impl Snapshot {
    fn take(server: &Server, shared: &Shared) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            done: shared.done.load(Relaxed),
            server: server.cpu_time(),
            client: support::thread_cpu_time(shared.thread.load(Relaxed) as libc::pthread_t),
        }
    }
}

/// One measurement of `row` against `server`: the load thread sets up its
/// connections, then this thread times the window and stops it.
fn measure(server: &Server, row: Row, frames: &Frames, window: Duration) -> io::Result<Sample> {
    let shared = Shared::default();
    let load = match row.mode {
        Mode::Connections(n) => Load::Connections(n),
        Mode::Pipelined => Load::Pipelined,
    };
    thread::scope(|scope| {
        let loader = scope.spawn(|| load::run(server.addr, load, frames, &shared));
        let deadline = Instant::now() + SETUP_TIMEOUT;
        while !shared.ready.load(Relaxed) {
            if loader.is_finished() {
                loader.join().expect("load thread panicked")?;
                return Err(invalid("the load ended early".to_owned()));
            }
            if Instant::now() > deadline {
                // The load thread's blocking calls time out on their own.
                shared.stop.store(true, Relaxed);
                return Err(io::Error::new(io::ErrorKind::TimedOut, "setup timed out"));
            }
            thread::sleep(Duration::from_millis(5));
        }
        thread::sleep(WARMUP);
        let before = Snapshot::take(server, &shared);
        thread::sleep(window);
        let after = Snapshot::take(server, &shared);
        shared.stop.store(true, Relaxed);
        loader.join().expect("load thread panicked")?;
        let wall = (after.at - before.at).as_secs_f64();
        let share = |a: Duration, b: Duration| 100.0 * (b - a).as_secs_f64() / wall;
        let echoes = (after.done - before.done) as f64;
        Ok(Sample {
            rate: echoes / wall,
            server_cpu: share(before.server, after.server),
            client_cpu: share(before.client, after.client),
            server_us: (after.server - before.server).as_secs_f64() * 1e6 / echoes,
        })
    })
}
