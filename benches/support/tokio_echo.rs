//! A tokio echo drive loop for one connection written by hand on the core
//! (no driver crate), over any byte stream: the loopback bench
//! (`benches/echo.rs`) measures it against the peers. The tokio examples
//! now run on the driver crate, `wsproto-tokio`, which has its own bench.

use std::io;
use std::pin::pin;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, sleep_until, timeout, timeout_at};
use wsproto::handshake::{Request, RequestError, ServerHandshake};
use wsproto::{Config, State};

use super::support::{self, LINGER_TIMEOUT, Outcome, READ_CHUNK};

/// One connection over any byte stream: the opening handshake, then echo
/// until the connection is closed.
pub async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> Outcome {
    let config = support::config();
    let mut buf = vec![0; READ_CHUNK];
    let request = match read_request(&mut stream, &mut buf, &config).await {
        Ok(request) => request,
        Err(outcome) => return outcome,
    };
    if let Err(error) = stream
        .write_all(&support::accept(&request).to_bytes())
        .await
    {
        return error.into();
    }
    let mut conn = request.into_connection(config);
    let mut outcome = None;
    // One timer for the whole connection. It is moved only to an earlier
    // deadline: the keepalive's moves with every read, and waking up early
    // costs one `handle_timeout` call that returns the later one.
    let mut timer = pin!(sleep_until(Instant::now()));
    let mut armed = None;
    // Whether the stream may hold back bytes it accepted (TLS does when the
    // socket is full; on TCP a flush does nothing). The 101 too.
    let mut unflushed = true;
    loop {
        match support::echo_events(&mut conn) {
            // A refused echo is a lost message: give up on the connection.
            Some(failed @ Outcome::SendFailed(_)) => return failed,
            Some(ended) => {
                outcome.get_or_insert(ended);
            }
            None => {}
        }
        // After every wake-up: arms the closing handshake's timer once a
        // close is queued, queues a keepalive ping or fails the connection
        // when due, and says when to come back.
        if let Some(deadline) = conn.handle_timeout(std::time::Instant::now()) {
            let deadline = Instant::from_std(deadline);
            if armed.is_none_or(|armed| deadline < armed) {
                timer.as_mut().reset(deadline);
                armed = Some(deadline);
            }
        }
        // Everything queued goes out before the next read: this is the
        // backpressure (`wants_read()` then holds). `pending_transmit` may
        // hand out only part of what waits (an owed pong goes ahead of
        // queued data): the loop comes back until it is empty.
        let pending = conn.pending_transmit();
        if !pending.is_empty() {
            tokio::select! {
                biased;
                written = stream.write(pending) => match written {
                    Ok(0) => return io::Error::from(io::ErrorKind::WriteZero).into(),
                    Ok(n) => {
                        conn.advance_transmit(n);
                        unflushed = true;
                    }
                    Err(error) => return error.into(),
                },
                () = &mut timer, if armed.is_some() => armed = None,
            }
            continue;
        }
        if unflushed {
            tokio::select! {
                biased;
                flushed = stream.flush() => match flushed {
                    Ok(()) => unflushed = false,
                    Err(error) => return error.into(),
                },
                () = &mut timer, if armed.is_some() => armed = None,
            }
            continue;
        }
        if conn.state() == State::Closed {
            // A timer's failure is reported by the next poll.
            let outcome = outcome.or_else(|| support::echo_events(&mut conn));
            linger(&mut stream, &mut buf).await;
            return outcome.unwrap_or(Outcome::Closed(None));
        }
        tokio::select! {
            biased;
            read = stream.read(&mut buf) => match read {
                Ok(0) => conn.recv_eof(),
                Ok(n) => conn.recv(&buf[..n]),
                Err(error) => return error.into(),
            },
            // The deadline: `handle_timeout` above runs the timer.
            () = &mut timer, if armed.is_some() => armed = None,
        }
    }
}

/// Reads the upgrade request, until `Config::handshake_timeout` runs out
/// (the first `handle_timeout` starts the clock). A bad request, or none in
/// time, is answered with its HTTP status (408 for the latter).
async fn read_request<S>(
    stream: &mut S,
    buf: &mut [u8],
    config: &Config,
) -> Result<Request, Outcome>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut handshake = ServerHandshake::new(config);
    loop {
        let read = match handshake.handle_timeout(std::time::Instant::now()) {
            Ok(None) => stream.read(buf).await,
            Ok(Some(deadline)) => {
                match timeout_at(Instant::from_std(deadline), stream.read(buf)).await {
                    Ok(read) => read,
                    Err(_elapsed) => continue, // answered above
                }
            }
            Err(error) => return Err(refuse(stream, buf, error).await),
        };
        let n = match read? {
            0 => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            n => n,
        };
        match handshake.recv(&buf[..n]) {
            Ok(Some(request)) => return Ok(request),
            Ok(None) => {}
            Err(error) => return Err(refuse(stream, buf, error).await),
        }
    }
}

/// Answers a refused upgrade with its HTTP status, then lingers.
async fn refuse<S>(stream: &mut S, buf: &mut [u8], error: RequestError) -> Outcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Err(error) = stream.write_all(&error.response().to_bytes()).await {
        return error.into();
    }
    linger(stream, buf).await;
    Outcome::Refused(error)
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
