//! The drive loop: one [`Connection`] over one transport, as poll
//! functions. [`WebSocket`](crate::WebSocket) calls them directly; the
//! split halves call them under a lock held only for one poll, never
//! across a wait.
//!
//! Every poll function leaves the connection consistent whenever it
//! returns `Pending`: bytes read are in `read_buf`, events not yet handed
//! out are still undecoded there, bytes to write are in the connection's
//! outbox. Dropping a pending `recv` or `send` future therefore loses
//! nothing (they are cancel-safe).

use std::io::{self, IoSlice};
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};
use wsproto::{
    CloseCode, Connection, ConnectionError, Messages, ReceiveLevel, Role, State, Streaming,
};

use crate::budget::Account;
use crate::level::Receive;
use crate::spare;
use crate::{Error, Message};

/// Spare room a read gets at least: when less is left, this much is
/// reserved (the core reserves more itself, from a large frame's header).
const READ_RESERVE: usize = 16 << 10;
/// Below this much spare room a read reserves [`READ_RESERVE`] first: the
/// message level may cut the spare room to end just past a large frame.
const READ_MIN_SPARE: usize = 4 << 10;
/// Chunks handed to one vectored write: a header, a payload queued by
/// reference, and what follows them.
const WRITE_CHUNKS: usize = 8;

/// One connection and its transport.
pub(crate) struct Driver<IO, L: ReceiveLevel = Messages> {
    pub(crate) io: IO,
    pub(crate) conn: Connection<L>,
    /// Bytes read and not yet decoded; messages are split off it. Let go
    /// when it is empty and the transport has nothing to read (and the
    /// connection's send buffer with it), to the thread's spares
    /// (`spare.rs`), so an idle connection holds no buffer.
    read_buf: BytesMut,
    /// The connection's next deadline, made on first use.
    timer: Option<Pin<Box<Sleep>>>,
    /// When `timer` fires; `None` when it is not armed. It is only ever
    /// moved earlier: waking up early costs one `handle_timeout` call that
    /// returns the later deadline.
    armed: Option<Instant>,
    /// Whether the configuration runs a timer while the connection is
    /// open (the keepalive); otherwise the clock is read only once the
    /// closing handshake has started.
    keepalive: bool,
    /// Input may hold an event not yet decoded: bytes arrived (or the
    /// transport ended, or the application had the connection) since
    /// decoding last found nothing whole. Decoding a partial frame again
    /// without new bytes finds nothing, so a wake-up for a timer or a
    /// write skips it. (It was first a workaround: the core counted a held
    /// partial frame as heard on every call, so the keepalive never pinged
    /// a peer stalled mid-frame; the core is fixed, see its test
    /// `a_frame_stalled_in_the_callers_buffer_does_not_hold_off_the_keepalive`.)
    /// At the message level it is also cleared when a message leaves the
    /// buffer empty: the next `recv` of an echo loop skips a decode that
    /// could find nothing.
    pub(crate) undecoded: bool,
    /// Bytes were written since the transport was last flushed.
    unflushed: bool,
    /// The transport's read side ended.
    eof: bool,
    /// How the connection ended, once it has: `recv` returns `None` from
    /// then on (the error itself was returned once).
    finished: bool,
    /// It ended with the closing handshake (the peer's close received),
    /// not with an error.
    pub(crate) ended_cleanly: bool,
    /// A failure to report once its close frame is out.
    failure: Option<ConnectionError>,
    /// When to stop waiting on the transport at the end: for a failure's
    /// close frame to go out, counted from the failure; or, for a client
    /// after the closing handshake, for the server to end TCP first,
    /// counted from the handshake's end. The close timeout.
    give_up: Option<Instant>,
    /// The connection's account with a shared memory budget, if it has
    /// one (message level only): boxed, so that a connection without one
    /// carries a pointer's size.
    pub(crate) account: Option<Box<Account>>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin, L: Receive> Driver<IO, L> {
    pub(crate) fn new(io: IO, mut conn: Connection<L>) -> Self {
        // The first call starts the connection's clock; a deadline while
        // open means a keepalive is configured.
        let keepalive = conn.handle_timeout(Instant::now().into_std()).is_some();
        Driver {
            io,
            conn,
            read_buf: BytesMut::new(),
            timer: None,
            armed: None,
            keepalive,
            // The handshake's leftover bytes, held by the connection.
            undecoded: true,
            unflushed: false,
            eof: false,
            finished: false,
            ended_cleanly: false,
            failure: None,
            give_up: None,
            account: None,
        }
    }

    /// The next message (or chunk); `None` once the connection has ended
    /// (after the peer's close, or after the error that ended it).
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<L::Item, Error>>> {
        loop {
            if self.finished {
                return Poll::Ready(None);
            }
            if self.failure.is_some() {
                return self.poll_fail(cx).map(Some);
            }
            // What has arrived is handed out first. Over the high-water
            // mark nothing is decoded: its answers could not be queued.
            let decoding = self.conn.wants_read();
            // Only new input can complete an event; but a timer that ended
            // the connection (it is then `Closed`) reports through decoding.
            if decoding && (self.undecoded || self.conn.state() == State::Closed) {
                if let Some(account) = self.account.as_deref_mut() {
                    account.allow(&mut self.conn);
                }
                let decoded = L::decode(&mut self.conn, &mut self.read_buf);
                if let Some(account) = self.account.as_deref_mut() {
                    account.settle(&self.conn);
                }
                match decoded {
                    Ok(Some(item)) => {
                        // Whatever the connection held (a handshake's
                        // leftover bytes) was joined to `read_buf` by this
                        // call: when that is now empty, decoding whole
                        // messages again without new bytes finds nothing
                        // (an echo loop skips that call).
                        if L::DRAINED_WHEN_EMPTY && self.read_buf.is_empty() {
                            self.undecoded = false;
                        }
                        if L::answered(&item) {
                            // Their answers go out now, as far as the
                            // transport takes them; the rest on later polls.
                            // The message comes out even when the transport
                            // fails (a peer that resets the connection right
                            // after its close): after a ping the next call
                            // meets the failure again and returns it; after
                            // the peer's close, which nothing follows, the
                            // connection has ended.
                            if let Poll::Ready(Err(_)) = self.poll_flush(cx) {
                                if L::is_close(&item) {
                                    self.finished = true;
                                    self.ended_cleanly = true;
                                    self.read_buf = BytesMut::new();
                                }
                            }
                        }
                        return Poll::Ready(Some(Ok(item)));
                    }
                    Ok(None) => self.undecoded = false,
                    Err(error) => {
                        // A violation's close frame is queued: the core
                        // times it from now, and so does `poll_fail`.
                        self.conn.handle_timeout(Instant::now().into_std());
                        self.give_up = self.conn.poll_timeout().map(Instant::from_std);
                        self.failure = Some(error);
                        continue;
                    }
                }
            }
            if self.poll_timers(cx).is_ready() {
                // A deadline passed: its outcome (a ping queued, or the
                // connection failed) shows at the top of the loop.
                continue;
            }
            // Answers, pings and the close go out before more is read.
            let flushed = match self.poll_flush(cx) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(error)) => {
                    self.finished = true;
                    return Poll::Ready(Some(Err(error.into())));
                }
                // Over the high-water mark: wait for the transport to take
                // bytes (this poll registered for that) before reading on.
                Poll::Pending if !self.conn.wants_read() => return Poll::Pending,
                Poll::Pending => false,
            };
            if !decoding && self.conn.wants_read() {
                // Decoding was skipped above, over the mark, and this flush
                // brought the queue under it: the read buffer may hold
                // whole messages. Decode them before waiting to read more,
                // which was waiting on a peer that may send nothing more.
                continue;
            }
            if self.conn.state() == State::Closed && self.conn.pending_transmit().is_empty() {
                // Both close frames went their way. A client first waits,
                // up to the close timeout, for the server to end TCP (RFC
                // 6455 section 7.1.1: the server then holds TIME_WAIT); a
                // server ends its side at once.
                if self.conn.role() == Role::Client && !self.eof {
                    if self.give_up.is_none() {
                        self.give_up = self.conn.close_timeout().map(|t| Instant::now() + t);
                    }
                    if self.poll_peer_end(cx).is_pending() {
                        // Without a close timeout, for as long as it takes.
                        let Some(give_up) = self.give_up else {
                            return Poll::Pending;
                        };
                        ready!(self.poll_until(cx, give_up));
                    }
                }
                let _ = ready!(Pin::new(&mut self.io).poll_shutdown(cx));
                self.finished = true;
                self.ended_cleanly = true;
                self.read_buf = BytesMut::new();
                return Poll::Ready(None);
            }
            if self.eof {
                if !flushed {
                    // The end came after the peer's close, whose echo is
                    // still going out (the core took the end without an
                    // error): wait for the transport to take it (the flush
                    // registered for that), then end cleanly above. Found
                    // by the `driver` fuzz target.
                    return Poll::Pending;
                }
                // The connection saw the end and has no event left; a
                // close frame would have ended it cleanly above.
                self.failure = Some(ConnectionError::UnexpectedEof);
                continue;
            }
            if self.read_buf.capacity() == 0 {
                // Waking from idle: buffers from the thread's spares.
                let (read, send) = spare::take(READ_RESERVE);
                self.read_buf = read;
                if let Some(buf) = send {
                    self.conn.provide_send_buffer(buf);
                }
            } else if self.read_buf.capacity() - self.read_buf.len() < READ_MIN_SPARE {
                self.read_buf.reserve(READ_RESERVE);
            }
            match tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read_buf) {
                Poll::Ready(Ok(0)) => {
                    self.conn.recv_eof();
                    self.eof = true;
                    self.undecoded = true;
                }
                Poll::Ready(Ok(_)) => self.undecoded = true,
                Poll::Ready(Err(error)) => {
                    self.finished = true;
                    return Poll::Ready(Some(Err(error.into())));
                }
                Poll::Pending => {
                    if self.read_buf.is_empty() {
                        // Idle: hold no read buffer while waiting, nor the
                        // send buffer the connection keeps for the next
                        // small frames (as large as the largest one copied,
                        // up to 4 KiB: 3 KiB a connection after a 3 KiB
                        // echo, where the task itself is under 1 KiB).
                        // They go to the thread's spares, for the next
                        // connection that wakes.
                        let send = self.conn.take_send_buffer();
                        spare::give(mem::take(&mut self.read_buf), READ_RESERVE, send);
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Sends the failed connection's close frame, if it has one, and ends
    /// our side (as far as the transport goes at once, or within the close
    /// timeout), then returns the failure once.
    fn poll_fail(&mut self, cx: &mut Context<'_>) -> Poll<Result<L::Item, Error>> {
        let error = self.failure.unwrap_or(ConnectionError::UnexpectedEof);
        if error.wire_close_code().is_some() {
            // Our close frame goes out, then our side ends. The peer may
            // read nothing more, and a TLS stream holds its records (and
            // its own close) back until it can write them, after the core
            // has handed them over and stopped timing them: the wait ends
            // at the close timeout counted from the failure.
            let done = self.poll_flush(cx).is_ready()
                && Pin::new(&mut self.io).poll_shutdown(cx).is_ready();
            if !done {
                let Some(give_up) = self.give_up else {
                    return Poll::Pending;
                };
                ready!(self.poll_until(cx, give_up));
            }
        } else {
            // A timeout, or the transport's end: nothing is sent and the
            // peer is presumed gone. End our side only as far as the
            // transport does at once: a TLS stream holding records the
            // peer never reads would otherwise keep this waiting for ever.
            let _ = Pin::new(&mut self.io).poll_shutdown(cx);
        }
        self.finished = true;
        self.read_buf = BytesMut::new();
        self.failure = None;
        Poll::Ready(Err(Error::Connection(error)))
    }

    /// Reads and drops what the peer still sends, until it ends the
    /// transport (or the transport fails): `Ready` then.
    fn poll_peer_end(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            self.read_buf.clear();
            if self.read_buf.capacity() < READ_MIN_SPARE {
                self.read_buf.reserve(READ_MIN_SPARE);
            }
            match ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut self.io),
                cx,
                &mut self.read_buf
            )) {
                Ok(0) | Err(_) => {
                    self.eof = true;
                    self.read_buf = BytesMut::new();
                    return Poll::Ready(());
                }
                Ok(_) => {}
            }
        }
    }

    /// `Ready` once `deadline` has passed, on the connection's one timer.
    fn poll_until(&mut self, cx: &mut Context<'_>, deadline: Instant) -> Poll<()> {
        if self.armed != Some(deadline) {
            match &mut self.timer {
                Some(timer) => timer.as_mut().reset(deadline),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.armed = Some(deadline);
        }
        ready!(self.timer.as_mut().expect("armed above").as_mut().poll(cx));
        self.armed = None;
        Poll::Ready(())
    }

    /// Runs the connection's timers: `Ready` when a deadline passed (call
    /// again after acting on it), `Pending` with the timer armed.
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.keepalive && self.conn.state() == State::Open {
            return Poll::Pending;
        }
        // tokio's clock, so a paused test clock drives the timers too.
        let now = Instant::now();
        // A deadline at or before `now` fires inside `handle_timeout`, and
        // its outcome must reach the caller even when no deadline follows
        // it: a close or keepalive timeout ends the connection and leaves
        // none, so going by the next deadline alone returned `Pending`, and
        // `recv` then ended with `None` (or `close` with `Ok`) instead of
        // the timeout, and a failure's flush waited for ever. A due
        // deadline is `Ready` whatever the timer says (at worst one extra
        // turn of the caller's loop, when input had reset the keepalive).
        let due = self
            .conn
            .poll_timeout()
            .is_some_and(|deadline| deadline <= now.into_std());
        let next = self.conn.handle_timeout(now.into_std());
        if due {
            self.armed = None;
            return Poll::Ready(());
        }
        let Some(deadline) = next else {
            return Poll::Pending;
        };
        let deadline = Instant::from_std(deadline);
        if self.armed.is_none_or(|armed| deadline < armed) {
            match &mut self.timer {
                Some(timer) => timer.as_mut().reset(deadline),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.armed = Some(deadline);
        }
        let timer = self.timer.as_mut().expect("armed above");
        ready!(timer.as_mut().poll(cx));
        self.armed = None;
        Poll::Ready(())
    }

    /// Writes everything the connection has queued, one vectored write at
    /// a time (a header and the payload queued after it by reference).
    pub(crate) fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let first = self.conn.pending_transmit();
            if first.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let mut io = Pin::new(&mut self.io);
            // One chunk (small frames copied into the send buffer): a plain
            // write, without gathering chunks.
            let written = if first.len() < self.conn.buffered_amount() && io.is_write_vectored() {
                let mut chunks = [&[][..]; WRITE_CHUNKS];
                let n = self.conn.pending_transmit_chunks(&mut chunks);
                let slices = chunks.map(IoSlice::new);
                ready!(io.as_mut().poll_write_vectored(cx, &slices[..n]))?
            } else {
                ready!(io.as_mut().poll_write(cx, first))?
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.conn.advance_transmit(written);
            self.unflushed = true;
        }
    }

    /// Writes everything queued, then flushes the transport (a TLS stream
    /// may hold bytes back until then): the bytes have reached the
    /// operating system when this is `Ready(Ok)`.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_write_out(cx))?;
        if self.unflushed {
            ready!(Pin::new(&mut self.io).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Ready for one more message: `Pending` while the bytes queued are
    /// over [`Config::send_high_water`](wsproto::Config::send_high_water)
    /// (writing them out meanwhile).
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !self.conn.wants_read() {
            // Ready only once everything queued is written, so under the
            // mark (a loop here would spin should the two ever disagree;
            // the core then refuses the send with `WouldBlock`).
            ready!(self.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Queues `message`; nothing is written until a flush (or until the
    /// queue is over the high-water mark at the next `poll_ready`).
    pub(crate) fn start_send(&mut self, message: Message) -> Result<(), Error> {
        let sent = match message {
            Message::Text(text) => self.conn.send_text_owned(text),
            Message::Binary(bytes) => self.conn.send_binary_owned(bytes),
            Message::Ping(payload) => self.conn.send_ping(&payload),
            Message::Pong(payload) => self.conn.send_pong(&payload),
            Message::Close(frame) => {
                let (code, reason) = frame
                    .as_ref()
                    .map_or((CloseCode::NORMAL, ""), |f| (f.code(), f.reason()));
                self.conn.close(Instant::now().into_std(), code, reason)
            }
        };
        sent.map_err(Error::Send)
    }

    /// Queues one fragment of a message (see `WebSocket::send_fragment`).
    pub(crate) fn start_fragment(
        &mut self,
        kind: wsproto::MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), Error> {
        self.conn
            .send_fragment(kind, payload, fin)
            .map_err(Error::Send)
    }

    /// Whether the connection has ended, and how: `Some(true)` after the
    /// closing handshake, `Some(false)` after an error (returned once).
    pub(crate) fn ended(&self) -> Option<bool> {
        self.finished.then_some(self.ended_cleanly)
    }

    /// Starts the closing handshake with `code` and `reason`, unless it
    /// has started (either side's close frame, or a failure).
    pub(crate) fn begin_close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        if self.conn.state() == State::Open {
            self.conn
                .close(Instant::now().into_std(), code, reason)
                .map_err(Error::Send)?;
        }
        Ok(())
    }
}

impl<IO> Driver<IO, Messages> {
    /// The same connection at the streaming level: what was read and not
    /// yet handed out (even the first part of a message) comes first, as
    /// chunks.
    pub(crate) fn into_streaming(mut self) -> Driver<IO, Streaming> {
        // Nothing is gathered at the streaming level: no budget, no
        // allowance (the account gives back what it held as it goes).
        self.conn.set_receive_allowance(u64::MAX);
        Driver {
            io: self.io,
            conn: self.conn.into_streaming(),
            read_buf: self.read_buf,
            timer: self.timer,
            armed: self.armed,
            keepalive: self.keepalive,
            unflushed: self.unflushed,
            eof: self.eof,
            finished: self.finished,
            ended_cleanly: self.ended_cleanly,
            failure: self.failure,
            // What the message level held comes out first, as chunks.
            undecoded: true,
            give_up: self.give_up,
            account: None,
        }
    }
}
