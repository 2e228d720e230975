//! A multi-connection echo server on tokio, optionally over TLS.
//!
//! ```sh
//! cargo run --release --example echo_server -- 127.0.0.1:9001
//! cargo run --release --example echo_server -- --tls cert.pem 127.0.0.1:9443
//! ```
//!
//! It echoes text and binary messages unchanged, answers pings, echoes the
//! peer's close code, refuses bad upgrade requests with the right HTTP status
//! and closes with the right code on protocol errors, logging one line per
//! connection. With `--tls FILE` it speaks `wss://` with a self-signed
//! certificate for `localhost` and `127.0.0.1`, written to `FILE` (PEM) for
//! clients to trust: `cargo run --example client -- --ca FILE wss://...`.
//!
//! Backpressure: each connection writes out everything it queued before it
//! reads again, so a peer that does not read is no longer read either; TCP
//! flow control then slows the sender. Memory per connection is bounded by
//! one read chunk and `Config::max_message_len`.

mod support;

use std::error::Error;
use std::io;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::{Duration, sleep, timeout};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use wsproto::State;
use wsproto::handshake::{Request, ServerHandshake};

use support::{DEFAULT_ADDR, HANDSHAKE_TIMEOUT, LINGER_TIMEOUT, Outcome, READ_CHUNK};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut tls = None;
    let mut addr = DEFAULT_ADDR.to_owned();
    let mut args = std::env::args().skip(1);
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
            _ => addr = arg,
        }
    }
    let listener = TcpListener::bind(&addr).await?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    println!(
        "echo server listening on {scheme}://{}/",
        listener.local_addr()?
    );
    serve(listener, tls).await
}

/// Accepts connections until the process ends, one task each.
pub async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>) -> ! {
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
        let tls = tls.clone();
        tokio::spawn(async move {
            let outcome = match tls {
                None => serve_connection(tcp).await,
                Some(acceptor) => match timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => serve_connection(stream).await,
                    Ok(Err(error)) => Outcome::Io(error),
                    Err(_) => Outcome::TimedOut,
                },
            };
            eprintln!("{peer}: {outcome}");
        });
    }
}

/// One connection over any byte stream: the opening handshake, then echo
/// until the connection is closed.
async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> Outcome {
    let mut buf = vec![0; READ_CHUNK];
    let request = match timeout(HANDSHAKE_TIMEOUT, read_request(&mut stream, &mut buf)).await {
        Ok(Ok(request)) => request,
        Ok(Err(outcome)) => return outcome,
        Err(_) => return Outcome::TimedOut,
    };
    if let Err(error) = stream
        .write_all(&support::accept(&request).to_bytes())
        .await
    {
        return error.into();
    }
    let mut conn = request.into_connection(support::config());
    let mut outcome = None;
    loop {
        if let Some(ended) = support::echo_events(&mut conn) {
            outcome.get_or_insert(ended);
        }
        // Write everything queued before reading more: this is the
        // backpressure (a peer that does not read is not read either).
        let pending = conn.pending_transmit();
        if !pending.is_empty() {
            let written = pending.len();
            if let Err(error) = stream.write_all(pending).await {
                return error.into();
            }
            conn.advance_transmit(written);
        }
        if conn.state() == State::Closed {
            linger(&mut stream, &mut buf).await;
            return outcome.unwrap_or(Outcome::Closed(None));
        }
        match stream.read(&mut buf).await {
            Ok(0) => conn.recv_eof(),
            Ok(n) => conn.recv(&buf[..n]),
            Err(error) => return error.into(),
        }
    }
}

/// Reads the upgrade request. A bad one is answered with its HTTP status.
async fn read_request<S>(stream: &mut S, buf: &mut [u8]) -> Result<Request, Outcome>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut handshake = ServerHandshake::new(&support::config());
    loop {
        let n = stream.read(buf).await?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        match handshake.recv(&buf[..n]) {
            Ok(Some(request)) => return Ok(request),
            Ok(None) => {}
            Err(error) => {
                stream.write_all(&error.response().to_bytes()).await?;
                linger(stream, buf).await;
                return Err(Outcome::Refused(error));
            }
        }
    }
}

/// Ends our side of the stream, then reads (and drops) what the peer still
/// sends until it closes too or `LINGER_TIMEOUT` passes, so that our last
/// bytes are not destroyed by a reset.
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, buf: &mut [u8]) {
    let drain = async {
        stream.shutdown().await?;
        while stream.read(buf).await? > 0 {}
        io::Result::Ok(())
    };
    let _ = timeout(LINGER_TIMEOUT, drain).await;
}

/// A TLS acceptor with a fresh self-signed certificate for `localhost` and
/// `127.0.0.1`; returns the certificate too (PEM), for clients to trust.
pub fn self_signed_tls() -> Result<(TlsAcceptor, String), Box<dyn Error>> {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let cert: CertificateDer = generated.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], PrivateKeyDer::Pkcs8(key))?;
    Ok((TlsAcceptor::from(Arc::new(config)), generated.cert.pem()))
}
