//! The soak: an example server under mixed traffic for a given time,
//! checking that every echo is exact and that its memory and open file
//! descriptors stay flat once warmed up.
//!
//! ```sh
//! scripts/soak.sh 60          # builds the examples, then runs this for 60 s
//! SOAK_SERVER=mio_echo_server scripts/soak.sh 1800
//! ```
//!
//! `cargo test --benches` and CI's bench build only compile this: without
//! cargo bench's `--bench` argument it returns at once. The server is an
//! example binary from `target/release/examples/` (`SOAK_SERVER`, the tokio
//! `echo_server` by default), in a process of its own.
//!
//! **Traffic**, each kind on threads of its own, each thread opening one
//! connection after another (`support/soak_clients.rs`):
//! - 16 echo clients: a few messages of random sizes per connection (most
//!   under 512 bytes, some up to 64 KiB, one in a hundred 1 MiB), up to
//!   four pipelined, a ping now and then, one connection in three with
//!   permessage-deflate; every echo compared byte for byte, every pong's
//!   payload checked, then a clean close (its echo, then the server's end
//!   of TCP);
//! - 2 slow readers: 16 messages of 64 KiB sent without reading, then a
//!   pause of 0.5-1.5 s, then every echo read and checked;
//! - 2 vanishing clients: half of a 256 KiB message, then gone (a reset or
//!   a plain end of TCP);
//! - 2 bad clients: a reserved opcode (close 1002 expected), text that is
//!   not UTF-8 (1007), a request that is not an upgrade (400), or half a
//!   request and gone.
//!
//! **Checks.** Any client error (a wrong echo, a missing pong, a wrong close
//! code or status, an I/O error) fails the soak. Every second the server's
//! VmRSS and its open descriptors (`/proc/PID/fd`) are sampled. After
//! warm-up (the first quarter of the run, at least 5 s), RSS must stay
//! within 10% plus 8 MiB of its level at the end of warm-up (its peak over
//! the second half against its peak over the first half of the measured
//! time); descriptors must stay under the warm-up's peak plus the
//! connections in flight (traffic threads, plus the half requests that
//! wait for their 408). Once the traffic stops and 12 s have passed (the
//! handshake timeout of the half requests), the descriptors must be back
//! to the server's count before the soak.

#[allow(dead_code)]
#[path = "support/processes.rs"]
mod processes;
#[path = "support/soak_clients.rs"]
mod soak_clients;
#[allow(dead_code)]
mod support;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use std::{env, io, thread};

use processes::{ServerProcess, Start};
use soak_clients::{Rng, Tally};

type Round = fn(SocketAddr, &mut Rng, &Tally) -> io::Result<()>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().collect();
    if !args.iter().any(|arg| arg == "--bench") {
        return ExitCode::SUCCESS;
    }
    let seconds = args
        .iter()
        .skip(1)
        .find_map(|arg| arg.parse::<u64>().ok())
        .unwrap_or(60);
    match soak(seconds) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("soak: FAILED: {error}");
            ExitCode::FAILURE
        }
    }
}

fn open_fds(pid: u32) -> io::Result<i64> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as i64)
}

fn soak(seconds: u64) -> io::Result<()> {
    let name = env::var("SOAK_SERVER").unwrap_or_else(|_| "echo_server".to_owned());
    let name: &'static str = Box::leak(name.into_boxed_str());
    support::raise_nofile(4096).map_err(io::Error::other)?;
    let server = ServerProcess::start(Start::Example(name))?;
    let pid = server.pid();
    thread::sleep(Duration::from_millis(300));
    let fds_before = open_fds(pid)?;
    println!("soak: {name} for {seconds} s (pid {pid}, {fds_before} descriptors open)");

    let stop = Arc::new(AtomicBool::new(false));
    let failure: Arc<Mutex<Option<String>>> = Arc::default();
    let tally = Arc::new(Tally::default());
    let kinds: [(&str, usize, Round); 4] = [
        ("echo", 16, soak_clients::echo_round),
        ("slow reader", 2, soak_clients::slow_reader_round),
        ("vanishing", 2, soak_clients::vanish_round),
        ("bad", 2, soak_clients::bad_round),
    ];
    let mut threads = Vec::new();
    let mut seed = 1;
    let in_flight: usize = kinds.iter().map(|k| k.1).sum();
    for (kind, count, round) in kinds {
        for _ in 0..count {
            seed += 1;
            let (stop, failure, tally, addr) =
                (stop.clone(), failure.clone(), tally.clone(), server.addr);
            threads.push(thread::spawn(move || {
                let mut rng = Rng::new(seed);
                while !stop.load(Relaxed) {
                    if let Err(error) = round(addr, &mut rng, &tally) {
                        failure
                            .lock()
                            .expect("not poisoned")
                            .get_or_insert(format!("{kind} client: {error}"));
                        stop.store(true, Relaxed);
                    }
                    if kind != "echo" {
                        // The hostile kinds at a few per second.
                        thread::sleep(Duration::from_millis(200));
                    }
                }
            }));
        }
    }

    let start = Instant::now();
    let warm_up = Duration::from_secs((seconds / 4).max(5));
    let mut samples: Vec<(Duration, i64, i64)> = Vec::new();
    while start.elapsed() < Duration::from_secs(seconds) && !stop.load(Relaxed) {
        thread::sleep(Duration::from_secs(1));
        server.check_alive()?;
        samples.push((start.elapsed(), server.rss()?, open_fds(pid)?));
    }
    stop.store(true, Relaxed);
    for thread in threads {
        let _ = thread.join();
    }
    if let Some(failure) = failure.lock().expect("not poisoned").take() {
        return Err(io::Error::other(failure));
    }
    // The half requests wait for their 408 (10 s), then every descriptor
    // of the traffic should be gone.
    thread::sleep(Duration::from_secs(12));
    server.check_alive()?;
    let fds_after = open_fds(pid)?;
    let rss_after = server.rss()?;

    let measured: Vec<_> = samples.iter().filter(|s| s.0 >= warm_up).collect();
    let warm: Vec<_> = samples.iter().filter(|s| s.0 < warm_up).collect();
    let peak = |s: &[&(Duration, i64, i64)], f: fn(&(Duration, i64, i64)) -> i64| {
        s.iter().map(|s| f(s)).max().unwrap_or(0)
    };
    let half = measured.len() / 2;
    let (first, second) = measured.split_at(half);
    let rss_first = peak(first, |s| s.1);
    let rss_second = peak(second, |s| s.1);
    let fds_warm = peak(&warm, |s| s.2);
    let fds_peak = peak(&measured, |s| s.2);
    let mib = |b: i64| b as f64 / 1048576.0;
    println!(
        "soak: {} connections, {} echoes ({:.1} MiB), {} pongs, {} vanished, {} refused",
        tally.connections.load(Relaxed),
        tally.echoes.load(Relaxed),
        tally.echoed_bytes.load(Relaxed) as f64 / 1048576.0,
        tally.pongs.load(Relaxed),
        tally.vanished.load(Relaxed),
        tally.refused.load(Relaxed),
    );
    println!(
        "soak: RSS peak {:.1} MiB in the first half after warm-up, {:.1} MiB in the second; \
         {:.1} MiB once idle",
        mib(rss_first),
        mib(rss_second),
        mib(rss_after)
    );
    println!(
        "soak: descriptors {fds_before} before, peak {fds_warm} in warm-up and {fds_peak} after, \
         {fds_after} at the end"
    );
    if measured.len() < 2 {
        return Err(io::Error::other("too short to measure after warm-up"));
    }
    if rss_second > rss_first + rss_first / 10 + (8 << 20) {
        return Err(io::Error::other("RSS grew after warm-up"));
    }
    // 408s for half requests still pending count too.
    if fds_peak > fds_warm.max(fds_before) + 2 * in_flight as i64 + 64 {
        return Err(io::Error::other("descriptors grew after warm-up"));
    }
    if fds_after > fds_before {
        return Err(io::Error::other(format!(
            "{} descriptors left open after the traffic",
            fds_after - fds_before
        )));
    }
    println!("soak: passed");
    Ok(())
}
