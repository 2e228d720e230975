//! What a connection keeps in its one box, made on first use (see
//! [`Extras`]): everything a healthy server connection streaming its input
//! does without.

use super::timers;
use crate::prelude::*;
use crate::send::SendExtras;
use bytes::BytesMut;

#[cfg(feature = "deflate")]
use crate::deflate::{DeflateParams, Inbound};

/// What a healthy server connection streaming its input does without:
/// the message level's state, permessage-deflate, a client's key source and
/// the timers. One box, made on first use, keeps
/// every connection small and an idle one free of heap.
#[derive(Default)]
pub(super) struct Extras {
    pub(super) inbox: Inbox,
    pub(super) send: SendExtras,
    /// Boxed again: the extras of a connection without it should not carry
    /// its size.
    #[cfg(feature = "deflate")]
    pub(super) inflating: Option<Box<Inflating>>,
    pub(super) timers: timers::Timers,
}

impl Extras {
    /// Whether it holds nothing: it can be dropped, so that an idle
    /// connection holds no heap.
    pub(super) fn is_idle(&self) -> bool {
        #[cfg(feature = "deflate")]
        let inflating = self.inflating.is_some();
        #[cfg(not(feature = "deflate"))]
        let inflating = false;
        self.inbox.is_empty() && self.send.is_idle() && !inflating && self.timers.is_idle()
    }
}

impl Inbox {
    pub(super) fn is_empty(&self) -> bool {
        self.input.is_empty()
            && self.message.is_empty()
            && self.lent == Lent::Nothing
            && self.predecoded == 0
    }
}

/// Received bytes the connection holds between calls.
#[derive(Default)]
pub(super) struct Inbox {
    /// Bytes received and not yet decoded: fed by `recv`, or read by a
    /// handshake past its head. Released (no heap kept) once decoded.
    pub(super) input: BytesMut,
    /// The fragmented or compressed message being gathered (message level;
    /// the streaming level hands out what `into_streaming` found here).
    pub(super) message: Vec<u8>,
    /// What the streaming level's last call lent out of the inbox, given
    /// back at its next call.
    pub(super) lent: Lent,
    /// How many bytes at the front of the streaming level's next input
    /// are payload the message level decoded in place already (see
    /// `into_streaming`).
    pub(super) predecoded: usize,
}

/// What a streaming-level event borrowed from the inbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Lent {
    #[default]
    Nothing,
    /// The first bytes of `Inbox::input` (decoded, some handed out).
    Input(usize),
    /// `Inbox::message`, handed out whole.
    Message,
}

/// The receiving side of permessage-deflate.
#[cfg(feature = "deflate")]
pub(super) struct Inflating {
    pub(super) params: DeflateParams,
    pub(super) inbound: Inbound,
    /// The streaming level's output buffer (allocated on first use).
    pub(super) inflated: Vec<u8>,
}
