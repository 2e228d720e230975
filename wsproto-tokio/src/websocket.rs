//! [`WebSocket`]: async `recv` / `send`, `Stream` and `Sink`, and the way
//! into the split halves.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::AsyncReadExt;
use tokio::io::{AsyncRead, AsyncWrite};
use wsproto::{CloseCode, Connection, MessageKind, Messages, ReceiveLevel, Role, State, Streaming};

use crate::driver::Driver;
use crate::level::Receive;
use crate::split::{self, ReadHalf, WriteHalf};
use crate::{Error, Message};

/// Bytes read from the source per fragment by [`WebSocket::send_reader`].
const READER_CHUNK: usize = 64 << 10;

/// A WebSocket connection over any `AsyncRead + AsyncWrite` transport (a
/// `TcpStream`, a TLS stream, a hyper upgrade), after its opening
/// handshake.
///
/// - [`recv`](Self::recv) (or the [`Stream`] of messages) hands out each
///   message whole and owned. While it runs, the connection answers pings,
///   echoes the peer's close, sends keepalive pings and runs its timeouts:
///   keep a `recv` going (in a loop, a `select!`, or the
///   [`ReadHalf`] in a task of its own) and nothing else needs doing.
/// - [`send`](Self::send) queues a message and writes it out;
///   [`feed`](Self::feed) queues only, and [`flush`](Self::flush) writes
///   everything queued: a burst of messages then goes out in a few large
///   writes. The [`Sink`] is the same (`poll_ready`, `start_send` queue,
///   `poll_flush` writes).
/// - [`split`](Self::split) gives a reader and a writer for two tasks.
///
/// **Backpressure**: a message is refused nothing, but
/// [`send`](Self::send) / [`feed`](Self::feed) wait (and `Sink::poll_ready`
/// is pending) while more than
/// [`Config::send_high_water`](wsproto::Config::send_high_water) bytes are
/// queued; meanwhile `recv` stops reading, so a peer that does not read
/// holds at most the mark plus one message.
///
/// **Cancel safety**: `recv`, `send`, `feed`, `flush` and `close` keep
/// their progress in the connection, so a future dropped before it
/// finished (in a `select!`, under a timeout) loses nothing: a message
/// not yet returned comes at the next `recv`, and a message given to
/// `send` or `feed` is queued as soon as the future has been polled once
/// (whether or not it finished writing), unless the queue was over the
/// high-water mark: a `send` or `feed` dropped while still waiting for
/// room queued nothing, and its message is dropped with it (so retrying
/// it sends it once).
///
/// ```no_run
/// use wsproto_tokio::{Message, WebSocket};
///
/// async fn echo<IO>(mut ws: WebSocket<IO>) -> Result<(), wsproto_tokio::Error>
/// where
///     IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
/// {
///     while let Some(message) = ws.recv().await {
///         match message? {
///             message @ (Message::Text(_) | Message::Binary(_)) => ws.send(message).await?,
///             _ => {} // pings are answered, the close is echoed
///         }
///     }
///     Ok(())
/// }
/// ```
pub struct WebSocket<IO, L: ReceiveLevel = Messages> {
    driver: Driver<IO, L>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin, L: Receive> WebSocket<IO, L> {
    /// Drives `conn` over `io`: for a connection made by the core's
    /// handshake types (`Request::into_connection`,
    /// `Upgraded::into_connection`), whose bytes read past the handshake
    /// it holds and hands out first. [`accept`](crate::accept) and
    /// [`connect`](crate::connect) do this for you.
    pub fn from_connection(io: IO, conn: Connection<L>) -> Self {
        WebSocket {
            driver: Driver::new(io, conn),
        }
    }

    /// The next message (a [`Chunk`](crate::Chunk) of one after
    /// [`into_streaming`](WebSocket::into_streaming)): `None` once the
    /// connection has ended, after the peer's [`Message::Close`] (the
    /// closing handshake then finished) or after the error that ended it.
    /// Cancel-safe.
    ///
    /// Pings come out too, already answered; a close frame from the peer
    /// comes out as [`Message::Close`], already echoed.
    pub async fn recv(&mut self) -> Option<Result<L::Item, Error>> {
        std::future::poll_fn(|cx| self.driver.poll_recv(cx)).await
    }

    /// Queues `message` and writes out everything queued, flushing the
    /// transport: when it returns `Ok`, the bytes are with the operating
    /// system. Waits first while the queue is over the high-water mark.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Queues `message` without writing it (unless the queue is over the
    /// high-water mark, in which case it first writes until it is not;
    /// dropped during that wait, it queues nothing).
    /// [`flush`](Self::flush) writes what was fed, in as few writes as
    /// the transport allows.
    pub async fn feed(&mut self, message: Message) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.driver.poll_ready(cx)).await?;
        self.driver.start_send(message)
    }

    /// Writes out everything queued and flushes the transport.
    pub async fn flush(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.driver.poll_flush(cx)).await?;
        Ok(())
    }

    /// Closes the connection: sends a close frame with `code` and
    /// `reason` (unless a closing handshake has started), then reads until
    /// the peer's close, or the close timeout
    /// ([`Config::close_timeout`](wsproto::Config::close_timeout), 10 s by
    /// default), and ends the transport (a client after the server has
    /// ended it, or at the close timeout). Messages that arrive meanwhile
    /// are dropped; to read them instead, send [`Message::Close`] and keep
    /// calling [`recv`](Self::recv) until it returns `None`.
    ///
    /// `Ok` when the closing handshake finished cleanly (now or before);
    /// [`Error::Closed`] when the connection had already ended with an
    /// error, which `recv` returned.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        match self.driver.ended() {
            Some(true) => return Ok(()),
            Some(false) => return Err(Error::Closed),
            None => self.driver.begin_close(code, reason)?,
        }
        while let Some(message) = self.recv().await {
            message?;
        }
        Ok(())
    }

    /// Splits the connection into a reader and a writer that two tasks
    /// can use at once (see [`ReadHalf`]). [`ReadHalf::reunite`] puts them
    /// back together.
    pub fn split(self) -> (ReadHalf<IO, L>, WriteHalf<IO, L>) {
        split::split(self.driver)
    }

    /// Sends one fragment of a message of `kind` (the first call starts
    /// it, the one with `fin` ends it) and writes it out: a message of any
    /// size, in the memory of one piece. Pings and a close may be sent
    /// between fragments, other messages may not. Text fragments may cut a
    /// character, but together they must be valid UTF-8.
    pub async fn send_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.driver.poll_ready(cx)).await?;
        self.driver.start_fragment(kind, payload, fin)?;
        self.flush().await
    }

    /// Sends everything `source` yields, to its end, as one message of
    /// `kind`, a fragment per read of up to 64 KiB, each written out
    /// before the next is read: constant memory, whatever the size.
    /// Returns the message's length. A text message must be valid UTF-8
    /// as a whole (else [`Error::Send`], and the message is cut short: the
    /// connection cannot go on, close it).
    pub async fn send_reader<R>(&mut self, kind: MessageKind, mut source: R) -> Result<u64, Error>
    where
        R: tokio::io::AsyncRead + Unpin,
    {
        // One piece read ahead: the last fragment is sent with `fin`.
        let mut piece = vec![0; READER_CHUNK];
        let mut next = vec![0; READER_CHUNK];
        let mut len = source.read(&mut piece).await?;
        let mut total = 0u64;
        loop {
            let next_len = if len == 0 {
                0
            } else {
                source.read(&mut next).await?
            };
            self.send_fragment(kind, &piece[..len], next_len == 0)
                .await?;
            total += len as u64;
            if next_len == 0 {
                return Ok(total);
            }
            std::mem::swap(&mut piece, &mut next);
            len = next_len;
        }
    }

    pub(crate) fn from_driver(driver: Driver<IO, L>) -> Self {
        WebSocket { driver }
    }
}

impl<IO> WebSocket<IO, Messages> {
    /// Counts what this connection's partly received messages hold
    /// against `budget`, shared with other connections (see
    /// [`MemoryBudget`](crate::MemoryBudget)): a message that would take
    /// the total past it ends the connection with 1013 (try again later).
    /// [`Acceptor::memory_budget`](crate::Acceptor::memory_budget) sets it
    /// for every connection it accepts; this is for connections made
    /// otherwise (a hyper or axum upgrade, `from_connection`). Replaces
    /// any budget set before; [`into_streaming`](Self::into_streaming)
    /// drops it (nothing is gathered there).
    pub fn set_memory_budget(&mut self, budget: crate::MemoryBudget) {
        self.driver.account = Some(Box::new(crate::budget::Account::new(budget)));
    }

    /// The same connection, handing out each message in pieces as they
    /// arrive ([`Chunk`](crate::Chunk)s) instead of whole: for messages of
    /// any size in constant memory (raise
    /// [`Config::max_message_len`](wsproto::Config::max_message_len): at
    /// this level nothing is gathered). What was read and not yet handed
    /// out, even the first part of a message, comes first.
    pub fn into_streaming(self) -> WebSocket<IO, Streaming> {
        WebSocket {
            driver: self.driver.into_streaming(),
        }
    }
}

impl<IO, L: ReceiveLevel> WebSocket<IO, L> {
    /// The connection's state: open, closing, closed.
    pub fn state(&self) -> State {
        self.driver.conn.state()
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.driver.conn.role()
    }

    /// Bytes queued and not yet written (like the browser's
    /// `bufferedAmount`).
    pub fn buffered_amount(&self) -> usize {
        self.driver.conn.buffered_amount()
    }

    /// The core connection, for what this driver does not wrap (the
    /// negotiated permessage-deflate parameters, say). Sending through it
    /// queues bytes that the next `flush` (or `recv`) writes.
    pub fn connection(&mut self) -> &mut Connection<L> {
        // It may be given bytes to decode (`Connection::recv`).
        self.driver.undecoded = true;
        &mut self.driver.conn
    }

    /// The transport.
    pub fn get_ref(&self) -> &IO {
        &self.driver.io
    }
}

impl<IO, L: ReceiveLevel> fmt::Debug for WebSocket<IO, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("role", &self.role())
            .field("state", &self.state())
            .field("buffered_amount", &self.buffered_amount())
            .finish_non_exhaustive()
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin, L: Receive> Stream for WebSocket<IO, L> {
    type Item = Result<L::Item, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().driver.poll_recv(cx)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin, L: Receive> Sink<Message> for WebSocket<IO, L> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().driver.poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().driver.start_send(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.get_mut().driver.poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }

    /// Sends a close frame (1000, unless a closing handshake has started)
    /// and writes it out. The peer's answer arrives through the `Stream`,
    /// which then ends.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let driver = &mut self.get_mut().driver;
        driver.begin_close(CloseCode::NORMAL, "")?;
        ready!(driver.poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }
}
