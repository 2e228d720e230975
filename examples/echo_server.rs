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
//! one read chunk and `Config::max_message_len`. Timers: each connection
//! sleeps until its next deadline as well (`handle_timeout`: a keepalive
//! ping after 30 s of silence, the closing handshake's timeout), and a
//! request that does not arrive within `HANDSHAKE_TIMEOUT` is answered 408.

mod support;
#[path = "support/tokio_echo.rs"]
mod tokio_echo;

use std::error::Error;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::time::{Duration, sleep, timeout};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use support::{DEFAULT_ADDR, HANDSHAKE_TIMEOUT, Outcome};

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
                None => tokio_echo::serve_connection(tcp).await,
                Some(acceptor) => match timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => tokio_echo::serve_connection(stream).await,
                    Ok(Err(error)) => Outcome::Io(error),
                    Err(_) => Outcome::TimedOut,
                },
            };
            eprintln!("{peer}: {outcome}");
        });
    }
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
