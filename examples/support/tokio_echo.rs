//! The tokio echo server's drive loop for one connection, over any byte
//! stream (TCP or TLS): shared by `examples/echo_server.rs` and the loopback
//! bench (`benches/echo.rs`), so that the bench measures the example's own
//! code.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use wsproto::State;
use wsproto::handshake::{Request, ServerHandshake};

use super::support::{self, HANDSHAKE_TIMEOUT, LINGER_TIMEOUT, Outcome, READ_CHUNK};

/// One connection over any byte stream: the opening handshake, then echo
/// until the connection is closed.
pub async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> Outcome {
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
