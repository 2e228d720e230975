//! A memory budget shared by connections: what their partly received
//! messages hold, in all, stays under it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wsproto::{Connection, ReceiveLevel};

/// Bytes that the messages being received may hold across every
/// connection given this budget (clones share it): announced payload
/// (in the read buffer, or gathered from fragments) and inflated output
/// (permessage-deflate), counted as
/// [`Connection::receive_held`](wsproto::Connection::receive_held) counts
/// them. A connection whose message would take the total past it is
/// closed with 1013 (try again later) before it holds more, and its
/// `recv` returns
/// [`ProtocolError::MessageOverAllowance`](wsproto::ProtocolError::MessageOverAllowance);
/// the others go on. Without a budget, only each connection's
/// [`Config::max_message_len`](wsproto::Config::max_message_len) bounds
/// it, so `n` connections can make a server hold `n` times that (a
/// deflate bomb costs `max_message_len` before its 1009).
///
/// Before each receive call, a connection is granted from the budget what
/// its message could still grow by (up to `max_message_len`), and what it
/// did not use is given back once the call returns, so at any moment the
/// budget holds what messages hold plus the grants of the calls running
/// (one per runtime thread at most). A message already whole in the
/// bytes read is handed out without a grant: a small message gets through
/// even while the budget is spent. Given with
/// [`Acceptor::memory_budget`](crate::Acceptor::memory_budget) or
/// [`WebSocket::set_memory_budget`](crate::WebSocket::set_memory_budget);
/// messages handed to the application, and what is queued to send, are
/// not counted.
///
/// ```
/// use wsproto_tokio::{Acceptor, MemoryBudget};
///
/// // 256 MiB for every connection's partly received messages together.
/// let budget = MemoryBudget::new(256 << 20);
/// let acceptor = Acceptor::new().memory_budget(budget.clone());
/// assert_eq!(budget.used(), 0);
/// # drop(acceptor);
/// ```
#[derive(Clone, Debug)]
pub struct MemoryBudget {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    limit: u64,
    used: AtomicU64,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: u64) -> Self {
        MemoryBudget {
            inner: Arc::new(Shared {
                limit,
                used: AtomicU64::new(0),
            }),
        }
    }

    /// The budget's size.
    pub fn limit(&self) -> u64 {
        self.inner.limit
    }

    /// Bytes charged now: held by messages being received, or granted to
    /// receive calls running.
    pub fn used(&self) -> u64 {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// Takes as much of `wanted` as is left; returns it.
    fn take_up_to(&self, wanted: u64) -> u64 {
        let mut taken = 0;
        // `fetch_update` retries when another connection got there first.
        let _ = self
            .inner
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                taken = wanted.min(self.inner.limit.saturating_sub(used));
                Some(used + taken)
            });
        taken
    }

    fn give_back(&self, bytes: u64) {
        let _ = self
            .inner
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    fn charge(&self, bytes: u64) {
        self.inner.used.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// One connection's account with a budget.
#[derive(Debug)]
pub(crate) struct Account {
    budget: MemoryBudget,
    /// What the connection's message held at the end of the last call.
    charged: u64,
    /// Granted to the call running, on top of `charged`.
    granted: u64,
}

impl Account {
    pub(crate) fn new(budget: MemoryBudget) -> Self {
        Account {
            budget,
            charged: 0,
            granted: 0,
        }
    }

    /// Before a receive call: grants what the message could still grow by
    /// (as much of it as the budget has left) and allows the connection
    /// what it holds plus that.
    pub(crate) fn allow<L: ReceiveLevel>(&mut self, conn: &mut Connection<L>) {
        let held = self.charged;
        let wanted = conn.max_message_len().saturating_sub(held);
        self.granted = self.budget.take_up_to(wanted);
        conn.set_receive_allowance(held.saturating_add(self.granted));
    }

    /// After the call: charges what the message holds now, and gives the
    /// rest of the grant back.
    pub(crate) fn settle<L: ReceiveLevel>(&mut self, conn: &Connection<L>) {
        let reserved = self.charged + self.granted;
        let held = conn.receive_held();
        if held <= reserved {
            self.budget.give_back(reserved - held);
        } else {
            // An inflated message stops one byte past its allowance.
            self.budget.charge(held - reserved);
        }
        self.charged = held;
        self.granted = 0;
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        self.budget.give_back(self.charged + self.granted);
    }
}
