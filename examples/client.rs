//! A command-line WebSocket client on tokio.
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
//! One task drives everything with `select!`: reading the socket, writing
//! what the connection queued, and reading stdin only while little output
//! is waiting (backpressure on stdin, never on the socket's input).

use std::fmt;
use std::io;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};
use tokio::net::TcpStream;
use tokio::time::{Duration, Instant, sleep_until, timeout};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use wsproto::handshake::{BuildError, ClientHandshake, ClientRequest, ResponseError};
use wsproto::{CloseCode, Config, ConnectionError, Control, Event, SendError, State};

/// How long the server may take to answer the upgrade request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
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
    let Some(trust) = trust.filter(|_| request.is_tls()) else {
        return session(tcp, &request, input, out, log).await;
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
    session(tls, &request, input, out, log).await
}

/// The handshake and the message exchange over any byte stream.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    request: &ClientRequest,
    input: impl AsyncBufRead + Unpin,
    mut out: impl AsyncWrite + Unpin,
    mut log: impl AsyncWrite + Unpin,
) -> Result<(), ClientError> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut buf = vec![0; 64 * 1024];
    let mut handshake = ClientHandshake::new(request, deflating()).map_err(ClientError::Url)?;
    writer.write_all(handshake.request_bytes()).await?;
    let upgraded = timeout(HANDSHAKE_TIMEOUT, async {
        loop {
            match reader.read(&mut buf).await? {
                0 => return Err(ClientError::ClosedDuringHandshake),
                n => match handshake.recv(&buf[..n]) {
                    Ok(Some(upgraded)) => return Ok(upgraded),
                    Ok(None) => {}
                    Err(refused) => return Err(ClientError::Refused(refused)),
                },
            }
        }
    })
    .await
    .map_err(|_| ClientError::TimedOut("the handshake"))??;
    let mut conn = upgraded.into_connection();

    let mut lines = input.lines();
    let mut close_deadline = None;
    let mut peer_close = None;
    loop {
        // Events first: the handshake may have carried messages already.
        loop {
            match conn.poll_event() {
                Ok(Some(Event::Text(text))) => {
                    out.write_all(text.as_bytes()).await?;
                    out.write_all(b"\n").await?;
                    out.flush().await?;
                }
                Ok(Some(Event::Binary(data))) => {
                    let hex: String = data.iter().take(32).map(|b| format!("{b:02x}")).collect();
                    let more = if data.len() > 32 { "..." } else { "" };
                    log.write_all(
                        format!("binary, {} bytes: {hex}{more}\n", data.len()).as_bytes(),
                    )
                    .await?;
                }
                Ok(Some(Event::Control(Control::Close(frame)))) => peer_close = Some(frame.code()),
                Ok(Some(_ping_or_pong)) => {} // pongs are queued for us
                Ok(None) => break,
                Err(error) => {
                    // Its close frame is queued: send it before giving up
                    // (behind a pong, maybe: ask until nothing is left).
                    while !conn.pending_transmit().is_empty() {
                        let pending = conn.pending_transmit();
                        let written = pending.len();
                        if writer.write_all(pending).await.is_err() {
                            break;
                        }
                        conn.advance_transmit(written);
                    }
                    return Err(ClientError::Protocol(error));
                }
            }
        }
        if conn.state() == State::Closed {
            return match peer_close {
                // Our close, echoed; or the server's own normal close.
                Some(_) if close_deadline.is_some() => Ok(()),
                Some(code) if code == CloseCode::NORMAL || code == CloseCode::GOING_AWAY => Ok(()),
                Some(code) => Err(ClientError::ClosedByServer(code)),
                None => Err(ClientError::Protocol(ConnectionError::UnexpectedEof)),
            };
        }
        let pending = conn.pending_transmit();
        // Once the server's close has arrived, nothing more may be sent.
        let reading_stdin = conn.state() == State::Open && pending.len() < MAX_PENDING;
        let deadline = close_deadline.unwrap_or_else(|| Instant::now() + CLOSE_TIMEOUT);
        tokio::select! {
            read = reader.read(&mut buf) => match read? {
                0 => conn.recv_eof(),
                n => conn.recv(&buf[..n]),
            },
            written = writer.write(pending), if !pending.is_empty() => {
                conn.advance_transmit(written?);
            }
            line = lines.next_line(), if reading_stdin => match line.map_err(ClientError::Stdin)? {
                Some(line) => conn.send_text(&line)?,
                None => {
                    conn.close(Instant::now().into_std(), CloseCode::NORMAL, "")?;
                    close_deadline = Some(Instant::now() + CLOSE_TIMEOUT);
                }
            },
            () = sleep_until(deadline), if close_deadline.is_some() => {
                return Err(ClientError::TimedOut("the server's close"));
            }
        }
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
    /// The server broke the protocol, or the connection dropped.
    Protocol(ConnectionError),
    /// The server closed the connection with an error code.
    ClosedByServer(CloseCode),
    /// A message could not be queued.
    Send(SendError),
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

impl From<SendError> for ClientError {
    fn from(error: SendError) -> Self {
        ClientError::Send(error)
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
            ClientError::Protocol(ConnectionError::UnexpectedEof) => {
                f.write_str("connection dropped without a close frame")
            }
            ClientError::Protocol(error) => write!(f, "connection failed: {error}"),
            ClientError::ClosedByServer(code) => write!(f, "server closed with code {code}"),
            ClientError::Send(error) => write!(f, "cannot send: {error}"),
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
