//! A command-line WebSocket client on the tokio driver.
//!
//! ```sh
//! cargo run --example client -- ws://127.0.0.1:9001/
//! cargo run --example client -- --ca cert.pem wss://localhost:9443/
//! ```
//!
//! Each line of stdin goes out as a text message; each text message
//! received is printed on its own line on stdout (binary ones as a length
//! and hex line on stderr). At the end of stdin it closes with 1000, waits
//! for the server's close (at most `CLOSE_TIMEOUT`) and exits 0. A refused
//! handshake, a failed connection or a server closing with an error code
//! exits 1 with the reason on stderr. For `wss://`, `--ca FILE` names the
//! certificate (PEM) to trust, such as the one `echo_server --tls` writes.
//!
//! One task: a `select!` between the connection's `recv` (which also
//! writes out what was queued, answers pings and runs the timers) and
//! stdin, read only while little output is waiting (backpressure on stdin,
//! never on the socket's input).

use std::fmt;
use std::io;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Duration, Instant, sleep_until};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use wsproto::handshake::{BuildError, ClientRequest, ResponseError, ResponseErrorKind};
use wsproto::{CloseCode, Config, ConnectionError};
use wsproto_tokio::{ClientBuilder, Error, Message, WebSocket};

/// How long we wait for the server's close after sending ours.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Stdin is not read while more than this much output waits for the socket.
const MAX_PENDING: usize = 64 * 1024;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (url, ca) = match args.as_slice() {
        [flag, ca, url] if flag == "--ca" => (url, Some(ca)),
        [url] => (url, None),
        _ => {
            eprintln!("usage: client [--ca CERT.pem] ws://HOST:PORT/PATH");
            return ExitCode::from(2);
        }
    };
    let trust = match ca.map(CertificateDer::from_pem_file).transpose() {
        Ok(trust) => trust,
        Err(error) => {
            eprintln!(
                "client: cannot read a PEM certificate from {}: {error}",
                ca.map_or("", |s| s)
            );
            return ExitCode::FAILURE;
        }
    };
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    match run(url, trust, stdin, tokio::io::stdout(), tokio::io::stderr()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("client: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Connects to `url`, sends `input`'s lines, writes received text to `out`
/// and reports binary messages on `log`, then closes; see the file's doc.
/// `trust` is the one certificate trusted for `wss://`.
///
/// It opens the TCP (and TLS) connection itself and hands it to
/// [`ClientBuilder::connect_on`], to tell a failed connection from a
/// failed TLS handshake; `ClientBuilder::connect` would do both.
pub async fn run(
    url: &str,
    trust: Option<CertificateDer<'static>>,
    input: impl AsyncBufRead + Unpin,
    out: impl AsyncWrite + Unpin,
    log: impl AsyncWrite + Unpin,
) -> Result<(), ClientError> {
    let request = ClientRequest::new(url).map_err(ClientError::Url)?;
    let trust = match (request.is_tls(), trust) {
        (true, None) => return Err(ClientError::NoTrustedCertificate),
        (_, trust) => trust,
    };
    let tcp = TcpStream::connect((request.host(), request.port()))
        .await
        .map_err(ClientError::Connect)?;
    tcp.set_nodelay(true).map_err(ClientError::Connect)?;
    let builder = ClientBuilder::new(url).config(deflating());
    let Some(trust) = trust.filter(|_| request.is_tls()) else {
        return session(handshake(builder, tcp).await?, input, out, log).await;
    };
    let mut roots = RootCertStore::empty();
    roots
        .add(trust)
        .map_err(|error| ClientError::Tls(io::Error::other(error)))?;
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(request.host().to_owned())
        .map_err(|error| ClientError::Tls(io::Error::other(error)))?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(ClientError::Tls)?;
    session(handshake(builder, tls).await?, input, out, log).await
}

/// The opening handshake over `stream` (10 s at most: `Config`'s
/// handshake timeout).
async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    builder: ClientBuilder,
    stream: S,
) -> Result<WebSocket<S>, ClientError> {
    match builder.connect_on(stream).await {
        Ok((ws, _accepted)) => Ok(ws),
        Err(Error::Response(refused)) if refused.kind() == ResponseErrorKind::Timeout => {
            Err(ClientError::TimedOut("the handshake"))
        }
        Err(Error::Response(refused)) => Err(ClientError::Refused(refused)),
        Err(Error::Io(error)) if error.kind() == io::ErrorKind::UnexpectedEof => {
            Err(ClientError::ClosedDuringHandshake)
        }
        Err(other) => Err(ClientError::Failed(other)),
    }
}

/// The message exchange: one `select!` between the connection and stdin.
/// `recv` is cancel-safe, so losing the race to a stdin line loses no
/// message.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    mut ws: WebSocket<S>,
    input: impl AsyncBufRead + Unpin,
    mut out: impl AsyncWrite + Unpin,
    mut log: impl AsyncWrite + Unpin,
) -> Result<(), ClientError> {
    let mut lines = input.lines();
    let mut closing = None;
    let mut peer_close = None;
    loop {
        // Stdin is read only while little output waits (backpressure on
        // stdin, never on the socket's input) and until we close.
        let reading_stdin = closing.is_none() && ws.buffered_amount() < MAX_PENDING;
        let deadline = closing.unwrap_or_else(Instant::now);
        tokio::select! {
            message = ws.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    out.write_all(text.as_bytes()).await?;
                    out.write_all(b"\n").await?;
                    out.flush().await?;
                }
                Some(Ok(Message::Binary(data))) => {
                    let hex: String = data.iter().take(32).map(|b| format!("{b:02x}")).collect();
                    let more = if data.len() > 32 { "..." } else { "" };
                    log.write_all(format!("binary, {} bytes: {hex}{more}\n", data.len()).as_bytes())
                        .await?;
                }
                Some(Ok(Message::Close(frame))) => {
                    peer_close = Some(frame.map_or(CloseCode::NO_STATUS_RECEIVED, |f| f.code()));
                }
                Some(Ok(_ping_or_pong)) => {} // pongs are sent for us
                Some(Err(error)) => return Err(ClientError::Failed(error)),
                None => break,
            },
            line = lines.next_line(), if reading_stdin => match line.map_err(ClientError::Stdin)? {
                // Queued; the next `recv` writes it out.
                Some(line) => ws.feed(Message::text(line)).await.map_err(ClientError::Failed)?,
                None => {
                    // Our close; echoes of earlier lines may still come
                    // before the server's answer, so keep reading.
                    ws.feed(Message::close(CloseCode::NORMAL, "")).await.map_err(ClientError::Failed)?;
                    closing = Some(Instant::now() + CLOSE_TIMEOUT);
                }
            },
            () = sleep_until(deadline), if closing.is_some() => {
                return Err(ClientError::TimedOut("the server's close"));
            }
        }
    }
    match peer_close {
        // Our close, echoed; or the server's own normal close.
        Some(_) if closing.is_some() => Ok(()),
        Some(code) if code == CloseCode::NORMAL || code == CloseCode::GOING_AWAY => Ok(()),
        Some(code) => Err(ClientError::ClosedByServer(code)),
        None => Err(ClientError::Failed(Error::Connection(
            ConnectionError::UnexpectedEof,
        ))),
    }
}

/// Why the client stopped without a clean close.
#[derive(Debug)]
pub enum ClientError {
    /// The URL or the request built from it is invalid.
    Url(BuildError),
    /// The TCP connection could not be made.
    Connect(io::Error),
    /// `wss://` without `--ca`: this example trusts only a given certificate.
    NoTrustedCertificate,
    /// The TLS handshake failed.
    Tls(io::Error),
    /// The server closed the connection before answering the upgrade.
    ClosedDuringHandshake,
    /// The server refused the upgrade (status and reason inside).
    Refused(ResponseError),
    /// The server broke the protocol, the connection dropped, or a
    /// message could not be sent.
    Failed(Error),
    /// The server closed the connection with an error code.
    ClosedByServer(CloseCode),
    /// Stdin could not be read (or is not UTF-8).
    Stdin(io::Error),
    /// The server did not answer in time.
    TimedOut(&'static str),
    /// The transport failed.
    Io(io::Error),
}

impl From<io::Error> for ClientError {
    fn from(error: io::Error) -> Self {
        ClientError::Io(error)
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Url(error) => write!(f, "invalid URL: {error}"),
            ClientError::Connect(error) => write!(f, "cannot connect: {error}"),
            ClientError::NoTrustedCertificate => f.write_str("wss:// needs --ca CERT.pem"),
            ClientError::Tls(error) => write!(f, "TLS failed: {error}"),
            ClientError::ClosedDuringHandshake => {
                f.write_str("the server closed the connection during the handshake")
            }
            ClientError::Refused(error) => write!(f, "handshake refused: {error}"),
            ClientError::Failed(Error::Connection(ConnectionError::UnexpectedEof)) => {
                f.write_str("connection dropped without a close frame")
            }
            ClientError::Failed(error) => write!(f, "connection failed: {error}"),
            ClientError::ClosedByServer(code) => write!(f, "server closed with code {code}"),
            ClientError::Stdin(error) => write!(f, "cannot read stdin: {error}"),
            ClientError::TimedOut(what) => write!(f, "timed out waiting for {what}"),
            ClientError::Io(error) => write!(f, "I/O error: {error}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// The default configuration, offering permessage-deflate.
fn deflating() -> Config {
    let mut config = Config::default();
    config.deflate.enabled = true;
    config
}
