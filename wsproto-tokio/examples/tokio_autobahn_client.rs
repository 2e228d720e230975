//! The Autobahn|Testsuite client testee on the tokio driver: runs every
//! case of a `wstest -m fuzzingserver` as an echo client, through
//! [`ClientBuilder`] and [`WebSocket`] (the core's own testee,
//! `examples/autobahn_client.rs` at the repository root, drives the core
//! by hand on blocking `std::net`).
//!
//! ```sh
//! cargo run --release -p wsproto-tokio --example tokio_autobahn_client -- ws://127.0.0.1:9001
//! ```
//!
//! It asks the fuzzing server for the case count (`/getCaseCount`), runs
//! each case (`/runCase?case=N&agent=wsproto-tokio`) by echoing text and
//! binary messages until the connection ends, then asks for the reports
//! (`/updateReports?agent=wsproto-tokio`). `scripts/autobahn.sh` runs it
//! (with the compression cases, 12.* and 13.*) and compares the report with
//! `autobahn/expected-results.json`.
//!
//! The configuration is the core testee's: the defaults (frames up to
//! 16 MiB, messages up to 64 MiB: the largest case, 9.1.6, sends one
//! 16 MiB frame) with permessage-deflate offered. Echoes are fed and
//! written out by the next `recv` before it waits, as the driver's echo
//! server does; pings and the server's close are answered by the driver.
//!
//! One line per case goes to stdout. Protocol errors are expected (many
//! cases send bad frames on purpose, and the right answer is a close with
//! the error's code, which the driver sends); the exit status is 1 only if
//! the fuzzing server could not be reached or a case could not be started.

use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use tokio::time::timeout;
use wsproto::{CloseCode, Config};
use wsproto_tokio::{ClientBuilder, ClientStream, Error, Message, WebSocket};

/// The name the reports file our results under.
const AGENT: &str = "wsproto-tokio";

/// The longest the fuzzing server may stay silent before a case is given
/// up. No case pauses for more than a few seconds; this only keeps a broken
/// run from hanging for ever.
const SILENCE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long to wait for the server to close TCP once the WebSocket has
/// ended, before dropping the socket: closing it with unread input would
/// send a reset, which can destroy the close frame on its way.
const LINGER_TIMEOUT: Duration = Duration::from_secs(2);

// One thread is plenty: the cases run one after the other.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(base) = std::env::args().skip(1).last() else {
        eprintln!("usage: tokio_autobahn_client ws://HOST:PORT");
        return ExitCode::from(2);
    };
    match run(&base).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tokio_autobahn_client: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every case against the fuzzing server at `base` (`ws://HOST:PORT`,
/// a trailing slash is fine), then asks for the reports.
async fn run(base: &str) -> Result<(), ClientError> {
    let base = base.trim_end_matches('/');
    let count = case_count(base).await?;
    println!("{count} cases");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        let ws = connect(&url).await.map_err(ClientError::Connect)?;
        let outcome = echo_until_closed(ws).await;
        println!("case {case}: {outcome}");
    }
    let url = format!("{base}/updateReports?agent={AGENT}");
    let ws = connect(&url).await.map_err(ClientError::Connect)?;
    let outcome = echo_until_closed(ws).await;
    println!("reports updated: {outcome}");
    Ok(())
}

/// The configuration of every connection: the defaults, offering
/// permessage-deflate.
fn config() -> Config {
    let mut config = Config::default();
    config.deflate.enabled = true;
    config
}

/// Connects to `url` and runs the opening handshake.
async fn connect(url: &str) -> Result<WebSocket<ClientStream>, Error> {
    let (ws, _accepted) = ClientBuilder::new(url).config(config()).connect().await?;
    Ok(ws)
}

/// Reads the one text message `/getCaseCount` sends: the number of cases.
async fn case_count(base: &str) -> Result<u32, ClientError> {
    let mut ws = connect(&format!("{base}/getCaseCount"))
        .await
        .map_err(ClientError::Connect)?;
    loop {
        let message = match timeout(SILENCE_TIMEOUT, ws.recv()).await {
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(error))) => return Err(ClientError::NoCaseCount(Some(error))),
            Ok(None) | Err(_) => return Err(ClientError::NoCaseCount(None)),
        };
        match message {
            Message::Text(text) => {
                let count = text
                    .trim()
                    .parse()
                    .map_err(|_| ClientError::BadCaseCount(text.to_string()))?;
                // Close properly (the count is read either way).
                let _ = timeout(SILENCE_TIMEOUT, ws.close(CloseCode::NORMAL, "")).await;
                return Ok(count);
            }
            Message::Close(_) => return Err(ClientError::NoCaseCount(None)),
            _ => {}
        }
    }
}

/// Echoes messages until the connection ends, then waits for the server to
/// close TCP, as RFC 6455 section 7.1.1 asks of clients.
async fn echo_until_closed(mut ws: WebSocket<ClientStream>) -> Outcome {
    let mut outcome = None;
    loop {
        let message = match timeout(SILENCE_TIMEOUT, ws.recv()).await {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(_) => {
                outcome = Some(Outcome::TimedOut);
                break;
            }
        };
        match message {
            // Owned in, owned out; the next `recv` writes it out.
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                if let Err(error) = ws.feed(message).await {
                    outcome = Some(Outcome::Failed(error));
                    break;
                }
            }
            // Already echoed by the driver; `recv` ends next.
            Ok(Message::Close(frame)) => {
                outcome = Some(Outcome::Closed(frame.map(|f| f.code())));
            }
            // Pings are answered by the driver.
            Ok(_) => {}
            // The driver has sent the error's close frame; `recv` ends next.
            Err(error) => {
                outcome = Some(Outcome::Failed(error));
                break;
            }
        }
    }
    linger(&ws).await;
    outcome.unwrap_or(Outcome::Closed(None))
}

/// Reads and drops input until the server's EOF, for at most
/// [`LINGER_TIMEOUT`], before the socket is dropped.
async fn linger(ws: &WebSocket<ClientStream>) {
    // `ClientStream` has one variant without the `rustls` feature.
    #[allow(irrefutable_let_patterns)]
    let ClientStream::Plain(tcp) = ws.get_ref() else {
        return;
    };
    let drain = async {
        let mut buf = [0u8; 4096];
        loop {
            if tcp.readable().await.is_err() {
                return;
            }
            match tcp.try_read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    };
    let _ = timeout(LINGER_TIMEOUT, drain).await;
}

/// How a case ended: the tail of its line.
enum Outcome {
    /// The server closed, with this code (echoed back) or none.
    Closed(Option<CloseCode>),
    /// The server broke the protocol (the driver closed with the error's
    /// code), the transport failed, or an echo could not be queued.
    Failed(Error),
    /// The server went silent for [`SILENCE_TIMEOUT`].
    TimedOut,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Closed(Some(code)) => write!(f, "closed by server with {code}, echoed"),
            Outcome::Closed(None) => f.write_str("closed"),
            Outcome::Failed(error) => write!(f, "failed: {error}"),
            Outcome::TimedOut => write!(f, "no input for {} s", SILENCE_TIMEOUT.as_secs()),
        }
    }
}

/// Why the run could not go on.
#[derive(Debug)]
enum ClientError {
    /// Connecting or the opening handshake failed (a bad URL, the fuzzing
    /// server not there, an upgrade refused).
    Connect(Error),
    /// `/getCaseCount` closed (or failed) without sending the count.
    NoCaseCount(Option<Error>),
    /// `/getCaseCount` sent something that is not a number.
    BadCaseCount(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect(error) => write!(f, "cannot connect: {error}"),
            ClientError::NoCaseCount(Some(error)) => write!(f, "no case count: {error}"),
            ClientError::NoCaseCount(None) => f.write_str("no case count: connection closed"),
            ClientError::BadCaseCount(text) => write!(f, "case count is not a number: {text:?}"),
        }
    }
}
