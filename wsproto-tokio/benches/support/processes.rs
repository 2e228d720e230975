//! The server processes of the load bench: the example binaries, and the
//! peers' servers (this bench binary again), with their RSS and CPU time
//! read from /proc.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use std::{env, thread};

use wsproto::Config;
use wsproto_tokio::Acceptor;

use crate::support::{self, Kind};

/// A server to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// An example binary of the workspace, by name.
    Example(&'static str),
    /// A peer library's server, in this binary.
    Peer(Kind),
    /// A wsproto-tokio server in this binary that allows context takeover
    /// with windows of at most this many bits.
    Window(u8),
}

/// Set for a child that serves one of [`PEERS`]: its index.
pub const PEER_ENV: &str = "SERVER_LOAD_PEER";

/// The servers this binary runs as a child, by index (the child is told
/// its index).
pub const PEERS: [Start; 5] = [
    Start::Peer(Kind::Tungstenite),
    Start::Peer(Kind::Fastwebsockets),
    Start::Window(15),
    Start::Window(12),
    Start::Window(9),
];

impl Start {
    pub fn name(self) -> String {
        match self {
            Start::Example(name) => name.to_owned(),
            Start::Peer(kind) => kind.name().to_owned(),
            Start::Window(_) => "wsproto-tokio".to_owned(),
        }
    }

    fn file_name(self) -> String {
        match self {
            Start::Window(bits) => format!("wsproto-tokio-window-{bits}"),
            other => other.name(),
        }
    }
}

/// `target/release`, where cargo bench put this binary (in `deps/`).
fn release_dir() -> io::Result<PathBuf> {
    let exe = env::current_exe()?;
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(PathBuf::from)
        .ok_or_else(|| io::Error::other("no target directory above the bench binary"))
}

/// A running server, killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    name: String,
}

impl ServerProcess {
    /// Starts `start` on an ephemeral port of 127.0.0.1 and waits for the
    /// line that names its address (every example prints it first).
    pub fn start(start: Start) -> io::Result<ServerProcess> {
        let release = release_dir()?;
        let mut command = match start {
            Start::Example(name) => {
                let path = release.join("examples").join(name);
                if !path.exists() {
                    return Err(io::Error::other(format!(
                        "{} is missing: build the examples first \
                         (`cargo build --release --workspace --examples`, as scripts/load.sh does)",
                        path.display()
                    )));
                }
                Command::new(path)
            }
            peer => {
                let index = PEERS
                    .iter()
                    .position(|p| *p == peer)
                    .expect("a listed peer");
                let mut command = Command::new(env::current_exe()?);
                command.arg("--bench").env(PEER_ENV, index.to_string());
                command
            }
        };
        let logs = release.join("..").join("server_load");
        std::fs::create_dir_all(&logs)?;
        let log = File::create(logs.join(format!("{}.log", start.file_name())))?;
        let mut child = command
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.trim().trim_end_matches('/').parse().ok());
        let name = start.name();
        match addr {
            Some(addr) => Ok(ServerProcess { child, addr, name }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::other(format!(
                    "{name} said {line:?}, not its address"
                )))
            }
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the server has exited.
    pub fn check_alive(&self) -> io::Result<()> {
        let pid = self.child.id();
        if std::fs::metadata(format!("/proc/{pid}")).is_err()
            || self.status_field("State:")?.starts_with('Z')
        {
            return Err(io::Error::other(format!("{} exited", self.name)));
        }
        Ok(())
    }

    fn status_field(&self, field: &str) -> io::Result<String> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .map(|value| value.trim().to_owned())
            .ok_or_else(|| io::Error::other(format!("no {field} in /proc/PID/status")))
    }

    /// VmRSS, bytes.
    pub fn rss(&self) -> io::Result<i64> {
        self.status_bytes("VmRSS:")
    }

    /// VmHWM, the peak VmRSS since the process started, bytes.
    pub fn peak_rss(&self) -> io::Result<i64> {
        self.status_bytes("VmHWM:")
    }

    /// A size field of /proc/PID/status ("1234 kB"), in bytes.
    fn status_bytes(&self, field: &str) -> io::Result<i64> {
        self.status_field(field)?
            .trim_end_matches("kB")
            .trim()
            .parse::<i64>()
            .map(|kb| kb * 1024)
            .map_err(io::Error::other)
    }

    /// VmRSS once it has stayed within 1% for 300 ms (at most 15 s).
    pub fn settled_rss(&self) -> io::Result<i64> {
        let mut last = self.rss()?;
        for _ in 0..50 {
            thread::sleep(Duration::from_millis(300));
            let now = self.rss()?;
            if (now - last).abs() * 100 <= last {
                return Ok(now);
            }
            last = now;
        }
        Ok(last)
    }

    /// User plus system CPU time of every thread of the server.
    pub fn cpu(&self) -> io::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // The fields after the command name (which may hold spaces):
        // state is the 3rd field of the line, utime the 14th, stime the 15th.
        let after = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| io::Error::other("unreadable /proc/PID/stat"))?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| -> io::Result<u64> {
            fields
                .get(i)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| io::Error::other("unreadable /proc/PID/stat"))
        };
        let total = ticks(11)? + ticks(12)?;
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Ok(Duration::from_nanos(total * 1_000_000_000 / per_second))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's side: serves `start` on 127.0.0.1 (port 0) on a default
/// multi-thread runtime until killed.
pub fn serve_peer(start: Start) -> io::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    println!("echo server listening on ws://{}/", listener.local_addr()?);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            let (tcp, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    eprintln!("accept: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            match start {
                Start::Peer(kind) => {
                    tokio::spawn(support::accept_and_spawn(kind, tcp, failed));
                }
                Start::Window(bits) => {
                    tokio::spawn(async move {
                        let mut config = Config::default();
                        config.deflate.enabled = true;
                        config.deflate.max_window_bits = bits;
                        config.deflate.peer_max_window_bits = bits;
                        let _ = tcp.set_nodelay(true);
                        match Acceptor::new().config(config).accept(tcp).await {
                            Ok(ws) => support::spawn_loop(support::wsproto_tokio_echo(ws, failed)),
                            Err(error) => failed(Kind::WsprotoTokio, error.to_string()),
                        }
                    });
                }
                Start::Example(_) => unreachable!("examples are their own binaries"),
            }
        }
    })
}

fn failed(kind: Kind, error: String) {
    eprintln!("{} server: {error}", kind.name());
}
