//! A multi-connection echo server on the tokio driver, optionally over TLS,
//! and then over HTTP/2 too.
//!
//! ```sh
//! cargo run --release --example echo_server -- 127.0.0.1:9001
//! cargo run --release --example echo_server -- --tls cert.pem 127.0.0.1:9443
//! cargo run --release --features h2 --example echo_server -- \
//!     --tls-cert cert.pem --tls-key key.pem 127.0.0.1:9443
//! ```
//!
//! It echoes text and binary messages unchanged (compressed with
//! permessage-deflate when the client offers it), answers pings, echoes the
//! peer's close code, refuses bad upgrade requests with the right HTTP
//! status (408 when none arrives within 10 s) and closes with the right
//! code on protocol errors, logging one line per connection. Any path is
//! accepted.
//!
//! TLS: with `--tls FILE` it speaks `wss://` with a self-signed
//! certificate for `localhost` and `127.0.0.1`, written to `FILE` (PEM) for
//! clients to trust: `cargo run --example client -- --ca FILE wss://...`.
//! With `--tls-cert CERT.pem --tls-key KEY.pem` it uses that certificate
//! chain and (PKCS#8, unencrypted) key.
//!
//! HTTP/2 (built with `--features h2`): over TLS it offers ALPN `h2` before
//! `http/1.1`, and on an HTTP/2 connection it accepts WebSockets by
//! extended CONNECT (RFC 8441; `SETTINGS_ENABLE_CONNECT_PROTOCOL` is
//! advertised), as many at once as the client opens, each echoed as over
//! HTTP/1.1. Any other HTTP/2 request gets a 404: browsers open a
//! WebSocket over HTTP/2 only on an HTTP/2 connection they already have,
//! such as one a `fetch` opened. See docs/http2-http3.md.
//!
//! The driver does the rest: each echo is fed (queued) and written out by
//! the next `recv` before it waits for input, so pipelined messages go
//! back in a few large writes; a peer that does not read is not read
//! either once the queue passes the high-water mark (backpressure); a
//! silent peer is pinged after 30 s and dropped if it does not answer.
//! What partly received messages hold, across all connections, stays
//! under a shared budget (`MEMORY_BUDGET`, 256 MiB); a message that would
//! pass it is refused with 1013, try again later.

use std::error::Error;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::time::{Duration, sleep, timeout};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use wsproto::{CloseCode, Config, ConnectionError, DeflatePool};
use wsproto_tokio::{Acceptor, MemoryBudget, Message, WebSocket};

/// Where the server listens when no address is given.
const DEFAULT_ADDR: &str = "127.0.0.1:9001";
/// How long a client may take to send its upgrade request (or, over TLS,
/// to finish the TLS handshake).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a peer may stay silent before it is pinged (then 20 s for an
/// answer): under the idle timers of common NATs and proxies.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut tls = None;
    let mut addr = DEFAULT_ADDR.to_owned();
    let mut args = std::env::args().skip(1);
    let (mut cert_file, mut key_file) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tls" => {
                let path = args
                    .next()
                    .ok_or("--tls needs a file to write the certificate to")?;
                let (acceptor, cert) = self_signed_tls()?;
                std::fs::write(&path, cert)?;
                eprintln!(
                    "self-signed certificate written to {}",
                    Path::new(&path).display()
                );
                tls = Some(acceptor);
            }
            "--tls-cert" => cert_file = Some(args.next().ok_or("--tls-cert needs a PEM file")?),
            "--tls-key" => key_file = Some(args.next().ok_or("--tls-key needs a PEM file")?),
            _ => addr = arg,
        }
    }
    match (cert_file, key_file) {
        (Some(cert), Some(key)) => tls = Some(tls_from_files(Path::new(&cert), Path::new(&key))?),
        (None, None) => {}
        _ => return Err("--tls-cert and --tls-key go together".into()),
    }
    if tls.is_some() {
        let alpn: Vec<_> = alpn()
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        eprintln!("TLS with ALPN {}", alpn.join(", "));
    }
    let listener = TcpListener::bind(&addr).await?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    println!(
        "echo server listening on {scheme}://{}/",
        listener.local_addr()?
    );
    serve(listener, tls).await
}

/// The configuration of every connection: the defaults, plus
/// permessage-deflate (browsers and the Autobahn suite offer it), the
/// handshake timeout and a keepalive.
///
/// permessage-deflate without context takeover, either way, whatever the
/// client offers: no compressor or inflater is held between messages.
/// With takeover, each connection would hold them for its life: about
/// 340 KB with 15-bit windows, 215 KB with 9-bit ones, where a plain idle
/// connection costs about 2 KiB (`scripts/load.sh`, docs/performance.md).
/// Each message borrows them from a pool that every connection of the
/// configuration shares (clones share it), so that they are not allocated
/// and freed per message (which leaves the allocator holding freed memory
/// between the connections' buffers).
pub fn config() -> Config {
    let mut config = Config::default();
    config.deflate.enabled = true;
    config.deflate.no_context_takeover = true;
    config.deflate.peer_no_context_takeover = true;
    config.deflate.pool = Some(DeflatePool::new(DEFLATE_SPARES));
    config.handshake_timeout = Some(HANDSHAKE_TIMEOUT);
    config.keepalive_interval = Some(KEEPALIVE_INTERVAL);
    config
}

/// How many compressors, and as many decompressors, the pool in [`config`]
/// keeps between messages: about as many as messages are compressed or
/// inflated at once (at most 6.7 MiB with 15-bit windows). Beyond that,
/// state comes and goes with its message.
pub const DEFLATE_SPARES: usize = 16;

/// What partly received messages may hold across all connections: past
/// it, a message is refused with 1013 (try again later) before it is held,
/// so that many deflate bombs at once cost this much, not
/// `max_message_len` (64 MiB) each.
pub const MEMORY_BUDGET: u64 = 256 << 20;

/// Accepts connections until the process ends, one task each.
pub async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>) -> ! {
    let (config, budget) = (config(), MemoryBudget::new(MEMORY_BUDGET));
    let acceptor = Acceptor::new()
        .config(config.clone())
        .memory_budget(budget.clone());
    let acceptor = Arc::new(acceptor);
    #[cfg(feature = "h2")]
    let http2 = Arc::new(http2::Server { config, budget });
    #[cfg(not(feature = "h2"))]
    let _ = (config, budget);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, say: back off instead of spinning.
                eprintln!("accept failed: {error}");
                sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Echoes go out as they are queued, not held back by Nagle.
        let _ = tcp.set_nodelay(true);
        let (tls, acceptor) = (tls.clone(), acceptor.clone());
        #[cfg(feature = "h2")]
        let http2 = http2.clone();
        // The upgrade runs in a task of its own, which spawns the echo
        // loop as another once it is done: a parked connection then holds
        // only the loop's state (about 600 bytes over plain TCP), not
        // that of the TLS and HTTP handshakes, which are larger.
        tokio::spawn(async move {
            match tls {
                None => upgrade_then_echo(&acceptor, tcp, peer).await,
                Some(tls) => match timeout(HANDSHAKE_TIMEOUT, tls.accept(tcp)).await {
                    // ALPN chose HTTP/2: many requests, WebSockets among them.
                    #[cfg(feature = "h2")]
                    Ok(Ok(stream)) if stream.get_ref().1.alpn_protocol() == Some(b"h2") => {
                        http2.serve(stream, peer).await
                    }
                    Ok(Ok(stream)) => upgrade_then_echo(&acceptor, stream, peer).await,
                    Ok(Err(error)) => log(peer, Outcome::Failed(error.into())),
                    Err(_) => log(
                        peer,
                        Outcome::Failed(wsproto_tokio::Error::Io(
                            std::io::ErrorKind::TimedOut.into(),
                        )),
                    ),
                },
            }
        });
    }
}

/// The upgrade; then the echo loop is spawned, or the refusal logged.
async fn upgrade_then_echo<S>(acceptor: &Acceptor, stream: S, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match acceptor.accept(stream).await {
        Ok(ws) => {
            tokio::spawn(async move { log(peer, echo(ws).await) });
        }
        Err(error) => log(peer, Outcome::Failed(error)),
    }
}

/// The log line of a connection that has ended.
fn log(peer: SocketAddr, outcome: Outcome) {
    eprintln!("{peer}: {outcome}");
}

/// Echoes until the connection ends.
///
/// An `async move` block rather than an `async fn`: an `async fn` keeps its
/// arguments twice in its future (rust-lang/rust#62958), and this future
/// is what every parked connection holds.
#[allow(clippy::manual_async_fn)]
pub fn echo<S>(mut ws: WebSocket<S>) -> impl Future<Output = Outcome>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    async move {
        let mut peer_close = None;
        while let Some(message) = ws.recv().await {
            match message {
                // Owned in, owned out: a large message goes back by reference,
                // without a copy. `feed` only queues; the next `recv` writes
                // out everything queued before it waits for more input.
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                    if let Err(error) = ws.feed(message).await {
                        return Outcome::Failed(error);
                    }
                }
                // Already echoed by the connection; `recv` ends next.
                Ok(Message::Close(frame)) => peer_close = Some(frame.map(|f| f.code())),
                // Pings are answered by the connection itself.
                Ok(_) => {}
                Err(error) => return Outcome::Failed(error),
            }
        }
        Outcome::Closed(peer_close.flatten())
    }
}

/// How a connection ended: the tail of its log line.
#[derive(Debug)]
pub enum Outcome {
    /// The peer closed, with this code (echoed back) or none.
    Closed(Option<CloseCode>),
    /// The upgrade was refused, the peer broke the protocol (we closed
    /// with the error's code), went silent, or the transport failed.
    Failed(wsproto_tokio::Error),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Closed(Some(code)) => write!(f, "closed by peer with {code}, echoed"),
            Outcome::Closed(None) => f.write_str("closed by peer without a code"),
            Outcome::Failed(wsproto_tokio::Error::Connection(ConnectionError::UnexpectedEof)) => {
                f.write_str("disconnected without a close frame (1006)")
            }
            Outcome::Failed(wsproto_tokio::Error::Request(error)) => {
                write!(f, "refused with {}: {error}", error.status())
            }
            Outcome::Failed(error) => write!(f, "failed: {error}"),
        }
    }
}

/// A TLS acceptor with a fresh self-signed certificate for `localhost` and
/// `127.0.0.1`; returns the certificate too (PEM), for clients to trust.
pub fn self_signed_tls() -> Result<(TlsAcceptor, String), Box<dyn Error>> {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let cert: CertificateDer = generated.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    let acceptor = tls_acceptor(vec![cert], PrivateKeyDer::Pkcs8(key))?;
    Ok((acceptor, generated.cert.pem()))
}

/// A TLS acceptor with the certificate chain and private key of two PEM
/// files.
pub fn tls_from_files(cert: &Path, key: &Path) -> Result<TlsAcceptor, Box<dyn Error>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| format!("{}: {error}", cert.display()))?;
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|error| format!("{}: {error}", key.display()))?;
    tls_acceptor(chain, key)
}

/// The protocols offered in ALPN, preferred first: HTTP/2 when built with
/// it (browsers then take it, and may open WebSockets over it), HTTP/1.1.
pub fn alpn() -> Vec<Vec<u8>> {
    let mut protocols = Vec::new();
    if cfg!(feature = "h2") {
        protocols.push(b"h2".to_vec());
    }
    protocols.push(b"http/1.1".to_vec());
    protocols
}

fn tls_acceptor(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<TlsAcceptor, Box<dyn Error>> {
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = alpn();
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// HTTP/2 connections (feature `h2`), served by hyper: WebSockets by
/// extended CONNECT, a 404 for anything else.
#[cfg(feature = "h2")]
mod http2 {
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::sync::Arc;

    use http_body_util::Full;
    use hyper::body::{Bytes, Incoming};
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tokio::io::{AsyncRead, AsyncWrite};
    use wsproto::Config;
    use wsproto_tokio::MemoryBudget;

    use super::{KEEPALIVE_INTERVAL, Outcome, echo, log};

    /// What every HTTP/2 connection shares with the HTTP/1.1 ones.
    pub struct Server {
        pub config: Config,
        pub budget: MemoryBudget,
    }

    impl Server {
        /// Serves one HTTP/2 connection until it ends; each WebSocket on
        /// it runs in a task of its own, so the connection goes on
        /// serving (and its other streams go on) meanwhile.
        pub async fn serve<S>(self: Arc<Self>, stream: S, peer: SocketAddr)
        where
            S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        {
            // hyper runs each request's future as a task: it owns a handle.
            let service = service_fn(move |request| {
                let server = Arc::clone(&self);
                async move { server.request(request, peer).await }
            });
            let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            builder
                .enable_connect_protocol()
                // HTTP/2 pings find connections whose peer is gone.
                .timer(TokioTimer::new())
                .keep_alive_interval(KEEPALIVE_INTERVAL);
            if let Err(error) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("{peer}: HTTP/2 connection ended: {error}");
            }
        }

        async fn request(
            &self,
            mut request: hyper::Request<Incoming>,
            peer: SocketAddr,
        ) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
            if request.method() != hyper::Method::CONNECT {
                let mut missing = hyper::Response::new(Full::from("not found\n"));
                *missing.status_mut() = hyper::StatusCode::NOT_FOUND;
                return Ok(missing);
            }
            match wsproto_tokio::hyper::upgrade(&mut request, &self.config) {
                Ok((response, upgrading)) => {
                    let budget = self.budget.clone();
                    tokio::spawn(async move {
                        match upgrading.await {
                            Ok(mut ws) => {
                                ws.set_memory_budget(budget);
                                log(peer, echo(ws).await)
                            }
                            Err(error) => log(peer, Outcome::Failed(error)),
                        }
                    });
                    Ok(response)
                }
                Err(refusal) => {
                    eprintln!(
                        "{peer}: HTTP/2 stream refused with {}: {refusal}",
                        refusal.status()
                    );
                    Ok(refusal.into_http())
                }
            }
        }
    }
}
