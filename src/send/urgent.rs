//! Control frames the connection owes on its own account (automatic pongs,
//! keepalive pings) that jump ahead of queued data: they wait here while
//! the outbox has bytes, and go out at the next frame boundary of it, never
//! inside a frame.
//!
//! Pongs are coalesced: a newer pong replaces one not yet started (RFC 6455
//! section 5.5.3 allows answering only the most recent ping), so a ping
//! flood owes at most one pong however slowly the transport drains.

use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, apply_mask};

/// The longest control frame: a 6-byte header (2 + a client's 4-byte key)
/// and a 125-byte payload.
const MAX_CONTROL_FRAME: usize = 6 + crate::event::MAX_CONTROL_PAYLOAD;

/// One encoded control frame and how much of it has been written.
#[derive(Clone)]
pub(crate) struct Encoded {
    bytes: [u8; MAX_CONTROL_FRAME],
    len: u8,
    sent: u8,
    opcode: OpCode,
}

impl Encoded {
    /// Encodes a ping or pong (payload at most 125 bytes, checked by the
    /// caller), masked with `mask` for a client.
    pub(crate) fn new(opcode: OpCode, mask: Option<[u8; 4]>, payload: &[u8]) -> Self {
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let head_len = header.encode(&mut head);
        let mut bytes = [0u8; MAX_CONTROL_FRAME];
        bytes[..head_len].copy_from_slice(&head[..head_len]);
        let payload_len = payload.len().min(MAX_CONTROL_FRAME - head_len);
        let end = head_len + payload_len;
        bytes[head_len..end].copy_from_slice(&payload[..payload_len]);
        if let Some(key) = mask {
            apply_mask(&mut bytes[head_len..end], key, 0);
        }
        Encoded {
            bytes,
            len: end as u8,
            sent: 0,
            opcode,
        }
    }

    /// The encoded frame, whole.
    #[cfg(test)]
    fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    fn unsent(&self) -> &[u8] {
        &self.bytes[usize::from(self.sent)..usize::from(self.len)]
    }
}

/// The owed frames, oldest first. Three at most: one being written, a
/// pong and a keepalive ping (at most one of which is outstanding).
#[derive(Default)]
pub(crate) struct Urgent {
    queue: [Option<Encoded>; 3],
}

impl Urgent {
    pub(crate) fn is_empty(&self) -> bool {
        self.queue[0].is_none()
    }

    /// Whether the oldest frame has been partly written: it must finish
    /// before anything else is written.
    pub(crate) fn started(&self) -> bool {
        self.queue[0].as_ref().is_some_and(|frame| frame.sent > 0)
    }

    /// The unwritten bytes of the oldest frame.
    pub(crate) fn front(&self) -> &[u8] {
        self.queue[0].as_ref().map_or(&[], Encoded::unsent)
    }

    /// Bytes owed in all.
    pub(crate) fn len(&self) -> usize {
        self.queue.iter().flatten().map(|f| f.unsent().len()).sum()
    }

    /// Queues `frame`; a pong replaces any pong not yet started.
    pub(crate) fn push(&mut self, frame: Encoded) {
        let replaceable = |slot: &Option<Encoded>| {
            slot.as_ref()
                .is_some_and(|f| f.opcode == OpCode::Pong && f.sent == 0)
        };
        if frame.opcode == OpCode::Pong {
            if let Some(slot) = self.queue.iter_mut().find(|slot| replaceable(slot)) {
                *slot = Some(frame);
                return;
            }
        }
        if let Some(slot) = self.queue.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(frame);
        }
        // Full (a frame being written, a pong and a ping): cannot happen,
        // the connection keeps one keepalive ping outstanding at most.
    }

    /// Marks `n` bytes of the oldest frame written (clamped to it).
    pub(crate) fn advance(&mut self, n: usize) {
        let Some(front) = &mut self.queue[0] else {
            return;
        };
        let left = usize::from(front.len - front.sent);
        front.sent += n.min(left) as u8;
        if front.sent == front.len {
            self.queue.rotate_left(1);
            self.queue[2] = None;
        }
    }

    /// Forgets a pong not yet started: a newer one is owed instead.
    pub(crate) fn drop_unstarted_pong(&mut self) {
        let unstarted_pong = |slot: &Option<Encoded>| {
            slot.as_ref()
                .is_some_and(|f| f.opcode == OpCode::Pong && f.sent == 0)
        };
        if let Some(at) = self.queue.iter().position(unstarted_pong) {
            self.queue[at..].rotate_left(1);
            self.queue[2] = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pong(payload: &[u8]) -> Encoded {
        Encoded::new(OpCode::Pong, None, payload)
    }

    #[test]
    fn a_newer_pong_replaces_one_not_started() {
        let mut urgent = Urgent::default();
        urgent.push(pong(b"1"));
        urgent.push(pong(b"2"));
        assert_eq!(urgent.front(), b"\x8a\x012");
        assert_eq!(urgent.len(), 3);
    }

    #[test]
    fn a_started_pong_finishes_and_the_newest_follows() {
        let mut urgent = Urgent::default();
        urgent.push(pong(b"1"));
        urgent.advance(1);
        assert!(urgent.started());
        urgent.push(pong(b"2"));
        urgent.push(pong(b"3"));
        assert_eq!(urgent.front(), b"\x011");
        urgent.advance(2);
        assert_eq!(urgent.front(), b"\x8a\x013");
        urgent.advance(3);
        assert!(urgent.is_empty());
        assert_eq!(urgent.len(), 0);
    }

    #[test]
    fn dropping_the_unstarted_pong_keeps_the_rest_in_order() {
        let mut urgent = Urgent::default();
        urgent.push(Encoded::new(OpCode::Ping, None, b"a"));
        urgent.push(pong(b"b"));
        urgent.drop_unstarted_pong();
        assert_eq!(urgent.len(), 3);
        urgent.push(pong(b"c"));
        urgent.advance(3);
        assert_eq!(urgent.front(), b"\x8a\x01c");
    }

    #[test]
    fn frames_go_out_in_the_order_they_were_owed() {
        let mut urgent = Urgent::default();
        urgent.push(Encoded::new(OpCode::Ping, None, b"a"));
        urgent.push(pong(b"b"));
        assert_eq!(urgent.front(), b"\x89\x01a");
        urgent.advance(3);
        assert_eq!(urgent.front(), b"\x8a\x01b");
    }

    #[test]
    fn a_client_frame_is_masked() {
        let frame = Encoded::new(OpCode::Pong, Some([1, 2, 3, 4]), b"\0\0\0\0\0");
        assert_eq!(
            frame.bytes(),
            b"\x8a\x85\x01\x02\x03\x04\x01\x02\x03\x04\x01"
        );
    }
}
