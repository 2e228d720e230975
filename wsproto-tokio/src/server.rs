//! The server's opening handshake over a raw transport: read the upgrade
//! request (with the handshake timeout), let the application look at it,
//! answer, and hand the connection over with the bytes read past the
//! request.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use wsproto::Config;
use wsproto::handshake::{Accept, Request, Response, ServerHandshake};

use crate::{Error, MemoryBudget, WebSocket};

/// Bytes read at a time while the request head arrives (a browser's is
/// under 2 KiB).
const HEAD_CHUNK: usize = 4 << 10;
/// How long a refused client gets to read the answer before the transport
/// is dropped.
const LINGER: Duration = Duration::from_secs(2);

/// Accepts a WebSocket upgrade on `io` with the default [`Config`]: any
/// path, no subprotocol. See [`Acceptor`] to choose.
///
/// A request that is not a valid upgrade is answered with its HTTP status
/// (400, 426, 431; 408 if it does not arrive within 10 s) and returned as
/// [`Error::Request`].
///
/// ```no_run
/// # async fn run() -> Result<(), wsproto_tokio::Error> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// let (stream, _) = listener.accept().await?;
/// let mut ws = wsproto_tokio::accept(stream).await?;
/// while let Some(message) = ws.recv().await {
///     let message = message?;
///     if message.is_data() {
///         ws.send(message).await?;
///     }
/// }
/// # Ok(()) }
/// ```
pub async fn accept<IO>(io: IO) -> Result<WebSocket<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    Acceptor::new().accept(io).await
}

/// A server's choices for the upgrades it accepts: the [`Config`] of its
/// connections (limits, timeouts, keepalive, permessage-deflate) and, with
/// [`accept_with`](Self::accept_with), a look at each request.
///
/// ```no_run
/// use wsproto::handshake::{Accept, Response};
/// use wsproto_tokio::Acceptor;
///
/// # async fn run(stream: tokio::net::TcpStream) -> Result<(), wsproto_tokio::Error> {
/// let mut config = wsproto::Config::default();
/// config.deflate.enabled = true;
/// config.keepalive_interval = Some(std::time::Duration::from_secs(30));
/// let acceptor = Acceptor::new().config(config);
/// let ws = acceptor
///     .accept_with(stream, |request| {
///         if request.path() != "/chat" {
///             return Err(Response::new(404).expect("a valid status"));
///         }
///         let chat = request.protocols().any(|p| p == "chat.v1");
///         Ok(if chat { Accept::new().protocol("chat.v1") } else { Accept::new() })
///     })
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Acceptor {
    config: Config,
    budget: Option<MemoryBudget>,
}

impl Acceptor {
    /// The default [`Config`].
    pub fn new() -> Self {
        Acceptor::default()
    }

    /// The configuration of the handshake (its limits and timeout) and of
    /// the connections accepted. Every connection gets a clone, so a
    /// [`DeflatePool`](wsproto::DeflatePool) in `config.deflate.pool` is
    /// shared by all of them: with permessage-deflate without context
    /// takeover, their messages then borrow zlib state instead of
    /// allocating it each time.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// A memory budget every connection accepted shares: what their
    /// partly received messages hold, in all, stays under it (see
    /// [`MemoryBudget`]).
    pub fn memory_budget(mut self, budget: MemoryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Accepts any valid upgrade: any path, no subprotocol (and
    /// permessage-deflate if the config enables it and the client offers
    /// it).
    pub async fn accept<IO>(&self, io: IO) -> Result<WebSocket<IO>, Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        self.accept_with(io, |_| Ok(Accept::new())).await
    }

    /// Reads the upgrade request and asks `choose` what to answer: an
    /// [`Accept`] (a subprotocol, extensions, extra headers), or a
    /// [`Response`] that refuses it (401, 403, 404, ...), which is written
    /// before this returns [`Error::Refused`] with its status. The request
    /// has the path, query, `Origin`, headers and offered subprotocols.
    ///
    /// Bytes the client sent after its request (its first frames) reach
    /// the connection. An `Accept` that names something the client did not
    /// offer is answered 500 and returned as [`Error::Build`].
    pub async fn accept_with<IO, F>(&self, mut io: IO, choose: F) -> Result<WebSocket<IO>, Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
        F: FnOnce(&Request) -> Result<Accept, Response>,
    {
        let request = match read_request(&mut io, &self.config).await {
            Ok(request) => request,
            Err(Error::Request(error)) => {
                refuse(&mut io, &error.response()).await;
                return Err(Error::Request(error));
            }
            Err(other) => return Err(other),
        };
        let response = match choose(&request) {
            Ok(accept) => match request.accept(&accept) {
                Ok(response) => response,
                Err(error) => {
                    refuse(&mut io, &Response::internal_error()).await;
                    return Err(Error::Build(error));
                }
            },
            Err(refusal) => {
                refuse(&mut io, &refusal).await;
                return Err(Error::Refused(refusal.status()));
            }
        };
        io.write_all(&response.to_bytes()).await?;
        io.flush().await?;
        let mut ws = WebSocket::from_connection(io, request.into_connection(self.config.clone()));
        if let Some(budget) = &self.budget {
            ws.set_memory_budget(budget.clone());
        }
        Ok(ws)
    }
}

/// Reads until the request head is whole (or refused, or late).
async fn read_request<IO>(io: &mut IO, config: &Config) -> Result<Request, Error>
where
    IO: AsyncRead + Unpin,
{
    let mut handshake = ServerHandshake::new(config);
    let mut buf = vec![0; HEAD_CHUNK];
    loop {
        let deadline = handshake.handle_timeout(Instant::now().into_std())?;
        let read = match deadline {
            None => io.read(&mut buf).await?,
            Some(deadline) => {
                match tokio::time::timeout_at(Instant::from_std(deadline), io.read(&mut buf)).await
                {
                    Ok(read) => read?,
                    // `handle_timeout` above fails the handshake (408).
                    Err(_elapsed) => continue,
                }
            }
        };
        if read == 0 {
            return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        if let Some(request) = handshake.recv(&buf[..read])? {
            return Ok(request);
        }
    }
}

/// Writes a refusal, ends our side, and lets the client read it (a socket
/// closed with unread input sends a reset, which can destroy the answer).
async fn refuse<IO>(io: &mut IO, response: &Response)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let linger = async {
        io.write_all(&response.to_bytes()).await?;
        io.shutdown().await?;
        let mut sink = [0u8; 512];
        while io.read(&mut sink).await? > 0 {}
        std::io::Result::Ok(())
    };
    let _ = tokio::time::timeout(LINGER, linger).await;
}
