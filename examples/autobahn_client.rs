//! The Autobahn|Testsuite client testee: runs every case of a `wstest -m
//! fuzzingserver` as an echo client, on blocking `std::net`.
//!
//! ```sh
//! cargo run --release --example autobahn_client -- ws://127.0.0.1:9001
//! ```
//!
//! It asks the fuzzing server for the case count (`/getCaseCount`), runs
//! each case (`/runCase?case=N&agent=wsproto`) by echoing text and binary
//! messages until the server closes, then asks for the reports
//! (`/updateReports?agent=wsproto`). `scripts/autobahn.sh` runs it and
//! checks the report; `docs/conformance.md` has the results.
//!
//! One line per case goes to stdout. Protocol errors are expected (many
//! cases send bad frames on purpose, and the right answer is a close with
//! the error's code); the exit status is 1 only if the fuzzing server could
//! not be reached or a case could not be started.

#[allow(dead_code)] // only the echo policy, the outcome and two constants are used
mod support;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use wsproto::handshake::{ClientHandshake, ClientRequest};
use wsproto::{Config, Connection, Control, Event, State};

use support::{LINGER_TIMEOUT, Outcome, READ_CHUNK};

/// The name the reports file our results under.
const AGENT: &str = "wsproto";

/// The longest the fuzzing server may stay silent before a case is given
/// up. No case pauses for more than a few seconds; this only keeps a broken
/// run from hanging forever.
const SILENCE_TIMEOUT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let Some(base) = std::env::args().skip(1).last() else {
        eprintln!("usage: autobahn_client ws://HOST:PORT");
        return ExitCode::from(2);
    };
    match run(&base) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("autobahn_client: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every case against the fuzzing server at `base` (`ws://HOST:PORT`,
/// a trailing slash is fine), then asks for the reports.
pub fn run(base: &str) -> Result<(), ClientError> {
    let base = base.trim_end_matches('/');
    let count = case_count(base)?;
    println!("{count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        let outcome = echo_until_closed(connect(&url)?);
        println!("case {case}: {outcome}");
    }
    let url = format!("{base}/updateReports?agent={AGENT}");
    let outcome = echo_until_closed(connect(&url)?);
    println!("reports updated: {outcome}");
    Ok(())
}

/// Reads the one text message `/getCaseCount` sends: the number of cases.
fn case_count(base: &str) -> Result<u32, ClientError> {
    let (mut tcp, mut conn) = connect(&format!("{base}/getCaseCount"))?;
    let mut buf = vec![0; READ_CHUNK];
    loop {
        match conn.poll_event() {
            Ok(Some(Event::Text(text))) => {
                let count = text
                    .trim()
                    .parse()
                    .map_err(|_| ClientError::BadCaseCount(text.to_string()))?;
                // The count is all we need: close without waiting for the
                // server's answer.
                let _ = conn.close(std::time::Instant::now(), wsproto::CloseCode::NORMAL, "");
                let _ = write_pending(&mut tcp, &mut conn);
                return Ok(count);
            }
            Ok(Some(Event::Control(Control::Close(_)))) => {
                return Err(ClientError::NoCaseCount(None));
            }
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(error) => return Err(ClientError::NoCaseCount(Some(error))),
        }
        match tcp.read(&mut buf)? {
            0 => return Err(ClientError::NoCaseCount(None)),
            n => conn.recv(&buf[..n]),
        }
    }
}

/// Opens a TCP connection to `url` and performs the opening handshake.
fn connect(url: &str) -> Result<(TcpStream, Connection), ClientError> {
    let request = ClientRequest::new(url)?;
    let mut tcp = TcpStream::connect((request.host(), request.port()))?;
    tcp.set_read_timeout(Some(SILENCE_TIMEOUT))?;
    // Each echo is one small write; waiting to fill a segment only slows
    // the suite down.
    tcp.set_nodelay(true)?;
    let mut handshake = ClientHandshake::new(&request, deflating())?;
    tcp.write_all(handshake.request_bytes())?;
    let mut buf = vec![0; READ_CHUNK];
    loop {
        let n = tcp.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        if let Some(upgraded) = handshake.recv(&buf[..n])? {
            return Ok((tcp, upgraded.into_connection()));
        }
    }
}

/// Echoes messages until the connection is closed, then waits for the
/// server to close TCP first, as RFC 6455 section 7.1.1 asks of clients.
fn echo_until_closed((mut tcp, mut conn): (TcpStream, Connection)) -> Outcome {
    let mut buf = vec![0; READ_CHUNK];
    let mut outcome = None;
    loop {
        if let Some(ended) = support::echo_events(&mut conn) {
            outcome.get_or_insert(ended);
        }
        if let Err(error) = write_pending(&mut tcp, &mut conn) {
            return outcome.unwrap_or(error.into());
        }
        if conn.state() == State::Closed {
            wait_for_server_close(&mut tcp, &mut buf);
            return outcome.unwrap_or(Outcome::Closed(None));
        }
        match tcp.read(&mut buf) {
            Ok(0) => conn.recv_eof(),
            Ok(n) => conn.recv(&buf[..n]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return outcome.unwrap_or(error.into()),
        }
    }
}

/// Writes everything queued. `pending_transmit` may hand out only part of
/// it (an owed pong goes ahead of queued data, in a piece of its own), so
/// it is asked again until it is empty.
fn write_pending(tcp: &mut TcpStream, conn: &mut Connection) -> io::Result<()> {
    loop {
        let pending = conn.pending_transmit();
        if pending.is_empty() {
            return Ok(());
        }
        let written = pending.len();
        tcp.write_all(pending)?;
        conn.advance_transmit(written);
    }
}

/// Reads and drops input until the server's EOF, for at most
/// `LINGER_TIMEOUT`; then closes our side.
fn wait_for_server_close(tcp: &mut TcpStream, buf: &mut [u8]) {
    if tcp.set_read_timeout(Some(LINGER_TIMEOUT)).is_ok() {
        while let Ok(1..) = tcp.read(buf) {}
    }
    let _ = tcp.shutdown(Shutdown::Both);
}

/// Why the run could not go on.
#[derive(Debug)]
pub enum ClientError {
    /// The URL given is not a `ws://` URL.
    Url(wsproto::handshake::BuildError),
    /// The fuzzing server refused the upgrade or answered badly.
    Handshake(wsproto::handshake::ResponseError),
    /// `/getCaseCount` closed (or failed) without sending the count.
    NoCaseCount(Option<wsproto::ConnectionError>),
    /// `/getCaseCount` sent something that is not a number.
    BadCaseCount(String),
    /// Connecting, reading or writing failed.
    Io(io::Error),
}

impl From<wsproto::handshake::BuildError> for ClientError {
    fn from(error: wsproto::handshake::BuildError) -> Self {
        ClientError::Url(error)
    }
}

impl From<wsproto::handshake::ResponseError> for ClientError {
    fn from(error: wsproto::handshake::ResponseError) -> Self {
        ClientError::Handshake(error)
    }
}

impl From<io::Error> for ClientError {
    fn from(error: io::Error) -> Self {
        ClientError::Io(error)
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Url(error) => write!(f, "bad URL: {error}"),
            ClientError::Handshake(error) => write!(f, "handshake failed: {error}"),
            ClientError::NoCaseCount(Some(error)) => write!(f, "no case count: {error}"),
            ClientError::NoCaseCount(None) => f.write_str("no case count: connection closed"),
            ClientError::BadCaseCount(text) => write!(f, "case count is not a number: {text:?}"),
            ClientError::Io(error) => write!(f, "I/O error: {error}"),
        }
    }
}

/// The default configuration, offering permessage-deflate.
fn deflating() -> Config {
    let mut config = Config::default();
    config.deflate.enabled = true;
    config
}
