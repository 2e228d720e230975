//! The tokio driver (`wsproto_tokio::WebSocket`) over an in-memory
//! transport that hands out the peer's bytes, and takes ours, in
//! pseudo-random splits, sometimes not ready (with a wake-up), on a
//! current-thread runtime whose clock is paused (timers run at once when
//! nothing else can). The application only receives.
//!
//! The oracle is the core alone: a [`Connection`] of the same role,
//! configuration and masking keys, fed the whole input at once. Invariants:
//!
//! - the driver hands out the same messages (pings, pongs and the close
//!   included) and then the same error, whatever the splits;
//! - it writes the same bytes the core transmits (pongs, the close echo,
//!   the failure's close), in order; when the transport ended first (no
//!   close to send), it stops writing at once: the start of them;
//! - after its end (`None`, or the error) `recv` keeps returning `None`;
//! - with a shared [`MemoryBudget`] (smaller than the message limit), the
//!   run is the oracle's up to the point where a message is refused with
//!   `MessageOverAllowance` (whether a message is whole in one read, and
//!   so exempt, depends on the splits), and the budget is given back in
//!   full once the connection is dropped.
//!
//! Input: byte 0 flags (bit 0 small limits, bit 1 client role, bit 2 the
//! transport ends after the input, bit 3 a memory budget, bit 4
//! permessage-deflate, bit 5 spurious not-ready), byte 1 the largest read
//! (0: all there is), byte 2 the largest write (0: all), byte 3 the seed;
//! the rest is what the peer sends.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsproto::{Config, Connection, ConnectionError, DeflateParams, ProtocolError, Role};
use wsproto_tokio::{Error, MemoryBudget, Message, WebSocket};

use crate::frames::{Reply, replies};
use crate::input::{Xorshift, small_config};

/// The budget of bit 3: under the small limits' message limit (300).
const BUDGET: u64 = 256;

/// What the first four bytes chose.
struct Setup {
    role: Role,
    config: Config,
    eof: bool,
    budget: bool,
    deflate: bool,
    spurious: bool,
    max_read: usize,
    max_write: usize,
    seed: u64,
}

fn setup(data: &[u8]) -> (Setup, &[u8]) {
    let (head, rest) = data.split_at(data.len().min(4));
    let byte = |i: usize| head.get(i).copied().unwrap_or(0);
    let flags = byte(0);
    let mut config = if flags & 1 != 0 {
        small_config()
    } else {
        Config::default()
    };
    config.deflate.enabled = flags & 16 != 0;
    let setup = Setup {
        role: if flags & 2 != 0 {
            Role::Client
        } else {
            Role::Server
        },
        config,
        eof: flags & 4 != 0,
        budget: flags & 8 != 0,
        deflate: flags & 16 != 0,
        spurious: flags & 32 != 0,
        max_read: usize::from(byte(1)),
        max_write: usize::from(byte(2)),
        seed: u64::from(byte(3)),
    };
    (setup, rest)
}

impl Setup {
    /// The connection both runs start from: the same masking keys.
    fn connection(&self) -> Connection {
        let entropy = Box::new(Xorshift::new(self.seed));
        if self.deflate {
            let params = DeflateParams::new(15, 15, false, false).expect("valid window bits");
            Connection::with_deflate(self.role, self.config.clone(), params, entropy)
        } else {
            Connection::with_entropy(self.role, self.config.clone(), entropy)
        }
    }
}

/// The peer's side of the transport, scripted.
struct Transport {
    input: Vec<u8>,
    at: usize,
    eof: bool,
    written: Vec<u8>,
    max_read: usize,
    max_write: usize,
    spurious: bool,
    splits: Xorshift,
}

impl Transport {
    /// How much the next read or write moves: up to `max` (0: all).
    fn split(&mut self, max: usize, wanted: usize) -> usize {
        if max == 0 {
            return wanted;
        }
        wanted.min(1 + self.splits.next_u64() as usize % max)
    }

    /// Sometimes not ready, with a wake-up, as a socket may be.
    fn not_ready(&mut self, cx: &Context<'_>) -> bool {
        if self.spurious && self.splits.next_u64().is_multiple_of(4) {
            cx.waker().wake_by_ref();
            return true;
        }
        false
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.not_ready(cx) {
            return Poll::Pending;
        }
        let left = this.input.len() - this.at;
        if left == 0 {
            // The end, or nothing more for ever (the run's timeout ends it).
            return if this.eof {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            };
        }
        let n = this.split(this.max_read, left.min(buf.remaining()));
        buf.put_slice(&this.input[this.at..this.at + n]);
        this.at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.not_ready(cx) {
            return Poll::Pending;
        }
        let n = this.split(this.max_write, buf.len());
        this.written.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

type Outcome = Vec<Result<Message, ConnectionError>>;

/// The core alone, fed everything at once.
fn oracle(setup: &Setup, input: &[u8]) -> (Outcome, Vec<u8>) {
    let mut conn = setup.connection();
    conn.recv(input);
    if setup.eof {
        conn.recv_eof();
    }
    let mut outcome = Vec::new();
    loop {
        match conn.poll_event() {
            Ok(Some(event)) => outcome.push(Ok(Message::from(event))),
            Ok(None) => break,
            Err(error) => {
                outcome.push(Err(error));
                break;
            }
        }
    }
    let mut sent = Vec::new();
    conn.poll_transmit(&mut sent);
    (outcome, sent)
}

thread_local! {
    /// One runtime for every input; its clock is paused, so a wait on a
    /// timer ends as soon as nothing else can run.
    static RUNTIME: RefCell<tokio::runtime::Runtime> = RefCell::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime"),
    );
}

/// The driver over the scripted transport, receiving until it ends or
/// waits for input that never comes.
fn drive(setup: &Setup, input: &[u8], budget: Option<&MemoryBudget>) -> (Outcome, Vec<u8>) {
    let transport = Transport {
        input: input.to_vec(),
        at: 0,
        eof: setup.eof,
        written: Vec::new(),
        max_read: setup.max_read,
        max_write: setup.max_write,
        spurious: setup.spurious,
        splits: Xorshift::new(setup.seed.wrapping_add(1)),
    };
    let mut ws = WebSocket::from_connection(transport, setup.connection());
    if let Some(budget) = budget {
        ws.set_memory_budget(budget.clone());
    }
    RUNTIME.with(|runtime| {
        runtime.borrow().block_on(async move {
            let mut outcome = Vec::new();
            let mut ended = false;
            loop {
                match tokio::time::timeout(Duration::from_secs(3600), ws.recv()).await {
                    Err(_waiting_for_input) => break,
                    Ok(None) => {
                        ended = true;
                        break;
                    }
                    Ok(Some(Ok(message))) => outcome.push(Ok(message)),
                    Ok(Some(Err(Error::Connection(error)))) => outcome.push(Err(error)),
                    Ok(Some(Err(other))) => panic!("the driver failed otherwise: {other:?}"),
                }
            }
            if ended || matches!(outcome.last(), Some(Err(_))) {
                for _ in 0..2 {
                    assert!(ws.recv().await.is_none(), "recv after the end");
                }
            }
            let written = ws.get_ref().written.clone();
            (outcome, written)
        })
    })
}

/// The driver wrote what the core transmits; when the run ended without
/// a close to send (the transport ended first), it stops writing at once,
/// so what it wrote is the start of that.
fn check_written(outcome: &Outcome, written: &[u8], expected: &[u8]) {
    let silent_end =
        matches!(outcome.last(), Some(Err(error)) if error.wire_close_code().is_none());
    if silent_end {
        assert!(
            expected.starts_with(written),
            "the driver wrote other bytes: {written:02x?}, not the start of {expected:02x?}"
        );
    } else {
        assert_eq!(written, expected, "the driver wrote other bytes");
    }
}

/// Runs every check on one fuzz input.
pub fn check(data: &[u8]) {
    let (setup, input) = setup(data);
    let (expected, expected_sent) = oracle(&setup, input);
    if !setup.budget {
        let (outcome, written) = drive(&setup, input, None);
        assert_eq!(
            outcome, expected,
            "the driver's messages differ from the core's"
        );
        check_written(&outcome, &written, &expected_sent);
        return;
    }
    let budget = MemoryBudget::new(BUDGET);
    let (outcome, written) = drive(&setup, input, Some(&budget));
    assert_eq!(budget.used(), 0, "charges left once the connection is gone");
    if outcome == expected {
        check_written(&outcome, &written, &expected_sent);
        return;
    }
    // Refused for the budget where the core alone went on.
    let (last, before) = outcome.split_last().expect("a refusal");
    assert!(
        matches!(
            last,
            Err(ConnectionError::Protocol(
                ProtocolError::MessageOverAllowance { .. }
            ))
        ),
        "the driver's run differs other than by a refusal: {outcome:?}, the core's {expected:?}"
    );
    assert_eq!(
        before,
        &expected[..before.len()],
        "the messages before the refusal differ"
    );
    let sent = replies(setup.role, &written);
    assert_eq!(
        sent.last(),
        Some(&Reply::Close(Some(1013))),
        "the refusal's close"
    );
}
