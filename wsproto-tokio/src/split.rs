//! The split halves: one connection behind a lock that each half takes for
//! the length of one poll (never across a wait), and a waker that wakes
//! both halves whenever the transport or the timer wakes either.
//!
//! Why both: a transport (or tokio's `Sleep`) keeps one waker per
//! direction, or one in all, and a reader and a writer both write (the
//! reader its answers to pings and the peer's close). Whichever half polled
//! last would be the only one woken, and the other could wait for ever;
//! waking both costs the other half at most one spurious poll.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker, ready};

use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite};
use wsproto::{CloseCode, Messages, ReceiveLevel, State};

use crate::driver::Driver;
use crate::level::Receive;
use crate::{Error, Message, WebSocket};

/// What both halves hold.
struct Shared<IO, L: ReceiveLevel> {
    driver: Mutex<Driver<IO, L>>,
    wakers: Arc<HalfWakers>,
    /// The waker the transport and timer are polled with: wakes both halves.
    both: Waker,
}

/// The last waker of each half.
#[derive(Default)]
struct HalfWakers {
    halves: Mutex<[Option<Waker>; 2]>,
}

const READER: usize = 0;
const WRITER: usize = 1;

impl Wake for HalfWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Taken, not cloned: a woken half registers again when polled.
        let halves = {
            let mut halves = self.halves.lock().unwrap_or_else(PoisonError::into_inner);
            [halves[READER].take(), halves[WRITER].take()]
        };
        for waker in halves.into_iter().flatten() {
            waker.wake();
        }
    }
}

impl<IO, L: ReceiveLevel> Shared<IO, L> {
    /// Runs `poll` on the driver for the half `half`, with the waker that
    /// wakes both halves.
    fn poll<T>(
        &self,
        half: usize,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Driver<IO, L>, &mut Context<'_>) -> T,
    ) -> T {
        {
            let mut halves = self
                .wakers
                .halves
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match &mut halves[half] {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
        }
        let mut both = Context::from_waker(&self.both);
        self.acting(1 - half, |driver| poll(driver, &mut both))
    }

    /// Runs `op` on the driver outside a poll (queueing a message, or
    /// starting the close) for the writer.
    fn queue<T>(&self, op: impl FnOnce(&mut Driver<IO, L>) -> T) -> T {
        self.acting(READER, op)
    }

    /// Runs `op` on the driver; when it changed the connection's state,
    /// wakes the half `other`, which may be waiting for what no transport
    /// or timer wakes it for:
    ///
    /// - the writer started the close (`close`, or a close frame sent):
    ///   the reader, parked in `recv` with no timer armed (none runs while
    ///   the connection is open without a keepalive), would not start the
    ///   close timeout until the peer sent something, and would wait for
    ///   ever on a peer that never answers;
    /// - the reader's timer ended the connection (dropping what waited to
    ///   be written), or the reader decoded the peer's close or a
    ///   violation: a writer waiting for a transport the peer no longer
    ///   reads would wait for ever instead of failing its next send.
    ///
    /// The state changes a few times per connection, so this costs nothing
    /// per message.
    fn acting<T>(&self, other: usize, op: impl FnOnce(&mut Driver<IO, L>) -> T) -> T {
        let (result, changed) = {
            let mut driver = self.lock();
            let before = driver.conn.state();
            let result = op(&mut driver);
            (result, driver.conn.state() != before)
        };
        if changed {
            let waker = self
                .wakers
                .halves
                .lock()
                .unwrap_or_else(PoisonError::into_inner)[other]
                .take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
        result
    }

    fn lock(&self) -> MutexGuard<'_, Driver<IO, L>> {
        // A panic inside a poll leaves the connection as consistent as any
        // return would: every step leaves it whole.
        self.driver.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) fn split<IO, L: ReceiveLevel>(
    driver: Driver<IO, L>,
) -> (ReadHalf<IO, L>, WriteHalf<IO, L>) {
    let wakers = Arc::new(HalfWakers::default());
    let shared = Arc::new(Shared {
        driver: Mutex::new(driver),
        both: Waker::from(wakers.clone()),
        wakers,
    });
    (
        ReadHalf {
            shared: shared.clone(),
        },
        WriteHalf { shared },
    )
}

/// The receiving half of a split [`WebSocket`], for a task of its own.
///
/// It does what [`WebSocket::recv`] does, answers included: while it waits
/// for a message, pongs, the echo of the peer's close and keepalive pings
/// go out through the transport whatever the [`WriteHalf`] is doing (the
/// connection is locked only for the length of each poll, never while
/// waiting for the transport). Keep it polled: when no half is polled,
/// nothing is read, answered or timed.
///
/// Closing after a split: [`WriteHalf::close`] sends the close frame; this
/// half then receives the peer's [`Message::Close`] and `None`. Or call
/// [`close`](Self::close) here, which also waits for the peer's answer.
///
/// ```no_run
/// use futures_util::{SinkExt, StreamExt};
/// use wsproto_tokio::{Message, WebSocket};
///
/// async fn run(ws: WebSocket<tokio::net::TcpStream>) -> Result<(), wsproto_tokio::Error> {
///     let (mut reader, mut writer) = ws.split();
///     let ticks = tokio::spawn(async move {
///         for n in 0..3 {
///             writer.send(Message::text(format!("tick {n}"))).await?;
///             tokio::time::sleep(std::time::Duration::from_secs(1)).await;
///         }
///         writer.close(wsproto::CloseCode::NORMAL, "done").await
///     });
///     while let Some(message) = reader.next().await {
///         println!("{:?}", message?);
///     }
///     ticks.await.expect("not cancelled")
/// }
/// ```
pub struct ReadHalf<IO, L: ReceiveLevel = Messages> {
    shared: Arc<Shared<IO, L>>,
}

/// The sending half of a split [`WebSocket`]: [`send`](Self::send),
/// [`feed`](Self::feed), [`flush`](Self::flush) and the [`Sink`], as on
/// [`WebSocket`] (backpressure included). See [`ReadHalf`].
pub struct WriteHalf<IO, L: ReceiveLevel = Messages> {
    shared: Arc<Shared<IO, L>>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin, L: Receive> ReadHalf<IO, L> {
    /// The next message, as [`WebSocket::recv`]. Cancel-safe.
    pub async fn recv(&mut self) -> Option<Result<L::Item, Error>> {
        std::future::poll_fn(|cx| self.shared.poll(READER, cx, Driver::poll_recv)).await
    }

    /// Closes the connection as [`WebSocket::close`] does: sends the close
    /// frame (unless a closing handshake has started), then reads, dropping
    /// messages, until the peer's close or the close timeout. `Ok` and
    /// errors as [`WebSocket::close`].
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.shared.queue(|driver| match driver.ended() {
            Some(true) => Ok(()),
            Some(false) => Err(Error::Closed),
            None => driver.begin_close(code, reason),
        })?;
        while let Some(message) = self.recv().await {
            message?;
        }
        Ok(())
    }

    /// Puts the halves back together; gives them back if they are not
    /// halves of one connection.
    pub fn reunite(
        self,
        writer: WriteHalf<IO, L>,
    ) -> Result<WebSocket<IO, L>, (Self, WriteHalf<IO, L>)> {
        if !Arc::ptr_eq(&self.shared, &writer.shared) {
            return Err((self, writer));
        }
        drop(writer);
        match Arc::try_unwrap(self.shared) {
            Ok(shared) => Ok(WebSocket::from_driver(
                shared
                    .driver
                    .into_inner()
                    .unwrap_or_else(PoisonError::into_inner),
            )),
            // Two halves of one connection hold the only two references.
            Err(_) => unreachable!("a third handle to a split connection"),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin, L: Receive> WriteHalf<IO, L> {
    /// Queues `message` and writes everything queued out, as
    /// [`WebSocket::send`].
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Queues `message` (waiting first while over the high-water mark), as
    /// [`WebSocket::feed`].
    pub async fn feed(&mut self, message: Message) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.shared.poll(WRITER, cx, Driver::poll_ready)).await?;
        self.shared.queue(|driver| driver.start_send(message))
    }

    /// Writes out everything queued and flushes the transport.
    pub async fn flush(&mut self) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.shared.poll(WRITER, cx, Driver::poll_flush)).await?;
        Ok(())
    }

    /// Sends a close frame with `code` and `reason` (unless a closing
    /// handshake has started) and writes it out. The [`ReadHalf`] then
    /// receives the peer's answer and ends; the close timeout runs while it
    /// is polled.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.shared
            .queue(|driver| driver.begin_close(code, reason))?;
        self.flush().await
    }

    /// The connection's state.
    pub fn state(&self) -> State {
        self.shared.lock().conn.state()
    }

    /// Bytes queued and not yet written.
    pub fn buffered_amount(&self) -> usize {
        self.shared.lock().conn.buffered_amount()
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin, L: Receive> Stream for ReadHalf<IO, L> {
    type Item = Result<L::Item, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.shared.poll(READER, cx, Driver::poll_recv)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin, L: Receive> Sink<Message> for WriteHalf<IO, L> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.poll(WRITER, cx, Driver::poll_ready)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.shared.queue(|driver| driver.start_send(message))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.shared.poll(WRITER, cx, Driver::poll_flush))?;
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared
            .queue(|driver| driver.begin_close(CloseCode::NORMAL, ""))?;
        ready!(self.shared.poll(WRITER, cx, Driver::poll_flush))?;
        Poll::Ready(Ok(()))
    }
}

impl<IO, L: ReceiveLevel> fmt::Debug for ReadHalf<IO, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadHalf").finish_non_exhaustive()
    }
}

impl<IO, L: ReceiveLevel> fmt::Debug for WriteHalf<IO, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteHalf").finish_non_exhaustive()
    }
}
