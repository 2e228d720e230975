//! A hyper 1 server that echoes WebSocket messages on any path.
//!
//! ```text
//! cargo run -p wsproto-tokio --example hyper_server --features hyper [ADDR]
//! ```
//!
//! ADDR defaults to 127.0.0.1:3000. hyper reads the HTTP request and writes
//! the response; `wsproto_tokio::hyper::upgrade` checks the request with
//! the core, gives the `101` (or the refusal) and the future of the
//! WebSocket that hyper hands over once the `101` is out.

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use wsproto_tokio::{Config, Error, Message, WebSocket};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("echo on ws://{}/", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        // Frames go out when sent, not held back by Nagle's algorithm.
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            // `with_upgrades` lets hyper hand the connection over after a
            // 101; without it the upgrade future fails.
            let served = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(serve))
                .with_upgrades()
                .await;
            if let Err(error) = served {
                eprintln!("{peer}: {error}");
            }
        });
    }
}

/// Answers every request: upgrades to an echoing WebSocket, or refuses.
async fn serve(mut request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Compression is off by default (it costs memory per connection, and
    // mixing secrets with attacker-chosen text in one compressed message
    // can leak them); an echo server has no secrets.
    let mut config = Config::default();
    config.deflate.enabled = true;
    let (response, upgrading) = match wsproto_tokio::hyper::upgrade(&mut request, &config) {
        Ok(upgrade) => upgrade,
        // Not a (valid) WebSocket upgrade: the refusal carries the status
        // the core chose (400, or 426 naming the version we speak) and
        // says why in its body.
        Err(refusal) => return Ok(refusal.into_http()),
    };
    // The WebSocket exists only once hyper has written the 101, which it
    // does after this function returns: wait for it in a task.
    tokio::spawn(async move {
        let result = match upgrading.await {
            Ok(ws) => echo(ws).await,
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            eprintln!("websocket: {error}");
        }
    });
    Ok(response)
}

/// Sends every text and binary message back. Pings are answered and the
/// close is echoed by the connection itself, while `recv` runs.
async fn echo<IO>(mut ws: WebSocket<IO>) -> Result<(), Error>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(message) = ws.recv().await {
        let message: Message = message?;
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}
