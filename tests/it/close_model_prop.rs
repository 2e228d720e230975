//! A model-based test of the close state machine: random operations applied
//! both to a real [`Connection`] (either role) and to [`Model`], a small
//! reference model of one RFC 6455 endpoint, which must agree after every
//! operation.
//!
//! The model is written from RFC 6455 (sections 5.2, 5.4, 5.5.1-5.5.3, 7.1.x,
//! 7.4, 8.1) and from the behaviour `src/connection.rs`, `src/error.rs` and
//! `docs/design.md` document, not from the implementation. It keeps a few
//! facts: whether we sent a close, whether the peer's close was read and
//! whether it was delivered, who initiated, whether the transport ended
//! (EOF), the events read but not yet delivered and the violation found
//! after them, the protocol error that failed the connection, the outgoing
//! fragmented message, the incoming message being reassembled, every frame
//! queued for the transport and how many bytes of them were written. From
//! those it derives what each call must return and `state()`: `Closed` once
//! the transport ended, or once both closes were exchanged (or the
//! connection failed) and nothing is left to write; else `Closing(initiator)`
//! once a close was sent or delivered; else `Open`.
//!
//! The operations: sending (text, binary, fragments that may split or break
//! UTF-8, pings, pongs, close with sendable and unsendable codes and reasons
//! up to 200 bytes), transmitting (`poll_transmit`, or `pending_transmit` +
//! `advance_transmit` partial writes), the peer's frames (messages, fragments,
//! pings, pongs, valid, empty and invalid close frames, protocol violations,
//! and anything after a close) fed with `recv` in two chunks, then usually
//! `poll_event` until `None` or an error (or later, all at once or one at a
//! time), and `recv_eof`.
//!
//! After each operation the test checks the exact return value (the
//! `SendError`, the events and `ProtocolError`, the byte count), `state()`,
//! the number of bytes written and pending, and every frame on the wire
//! against the model (opcode, FIN, masking, payload; a failure's close frame
//! by its code, its reason being the implementation's choice). Independently
//! of the model it checks the wire rules: at most one close frame, nothing
//! after it (so no data frame), a well-formed fragment sequence, and only
//! sendable close codes (never 1005, 1006 or 1015).
//!
//! Documented choices the model follows where RFC 6455 leaves room:
//! - replies are queued as events are delivered by `poll_event`, not as the
//!   bytes are read, so the application can answer what came first; the
//!   state changes on delivery too;
//! - no pong is sent after our close (`docs/design.md`: nothing may follow
//!   our close frame), although 5.5.2 only exempts an endpoint that has
//!   *received* a close;
//! - an empty close is answered with an empty close (1005 is never sent);
//!   the echo carries the peer's code without its reason;
//! - `recv_eof` makes the state `Closed` at once, even with output queued,
//!   and every send fails with `SendError::Closed` afterwards; a close frame
//!   or a violation read before the end of the stream is still reported
//!   (and answered) instead of 1006;
//! - where a call is wrong in two ways, `Closed` comes first, then a
//!   message in progress, then UTF-8 (fragments) or the code before the
//!   reason (close); received close payloads are checked code first.

#![cfg(feature = "std")]

use crate::common;

use common::*;
use proptest::prelude::*;
use proptest::sample::select;
use std::collections::VecDeque;
use wsproto::{
    CloseCode, CloseFrame, Config, Connection, ConnectionError, Control, ControlPayload, Event,
    Initiator, MessageKind, Misuse, ProtocolError, Role, SendError, State,
};

// ----- RFC 6455 facts, restated for the model -----

/// Close codes that may appear on the wire (section 7.4.1, 7.4.2 and the
/// IANA registry): 1004 is reserved, 1005, 1006 and 1015 are local-only,
/// 0-999 and 1016-2999 are not to be used, 5000 and up are not defined.
fn sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The close code a failure is answered with (section 7.4.1): 1007 for data
/// inconsistent with its type (bad UTF-8), 1009 for too large, 1006 for a
/// transport that ended (never sent), 1002 for any other protocol error.
fn rfc_close_code(error: ConnectionError) -> u16 {
    match error {
        ConnectionError::Protocol(
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCloseReason,
        ) => 1007,
        ConnectionError::Protocol(
            ProtocolError::FrameTooLong { .. } | ProtocolError::MessageTooLong { .. },
        ) => 1009,
        ConnectionError::Protocol(_) => 1002,
        _ => 1006,
    }
}

/// Bytes one frame takes on the wire (section 5.2): two header bytes, a 16-
/// or 64-bit extended length past 125 or 65535 bytes, a 4-byte key if masked.
fn encoded_len(payload_len: usize, masked: bool) -> usize {
    let extended = match payload_len {
        0..=125 => 0,
        126..=65535 => 2,
        _ => 8,
    };
    2 + extended + if masked { 4 } else { 0 } + payload_len
}

/// Whether `bytes` can still become valid UTF-8 (they are valid, or end in
/// the middle of a character that more bytes could finish).
fn utf8_prefix(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

fn data_opcode(kind: MessageKind) -> u8 {
    match kind {
        MessageKind::Text => OP_TEXT,
        MessageKind::Binary => OP_BINARY,
    }
}

// ----- operations -----

/// A frame from the peer.
#[derive(Clone, Debug)]
enum PeerFrame {
    /// A data frame: opcode text, binary or continuation.
    Data {
        opcode: u8,
        payload: Vec<u8>,
        fin: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A close frame with this raw payload (valid or not).
    Close(Vec<u8>),
    /// A frame with opcode 3-7 or 0xB-0xF.
    ReservedOpcode(u8),
    /// A ping with reserved bits set.
    ReservedBits(u8),
    /// A ping masked the wrong way for the peer's role.
    WrongMask,
    /// A ping of 126 bytes.
    LongPing,
    /// A ping without FIN.
    FragmentedPing,
}

#[derive(Clone, Debug)]
enum Op {
    SendText(String),
    SendBinary(Vec<u8>),
    SendFragment {
        kind: MessageKind,
        payload: Vec<u8>,
        fin: bool,
    },
    SendPing(Vec<u8>),
    SendPong(Vec<u8>),
    Close {
        code: u16,
        reason: String,
    },
    /// `poll_transmit` into the wire.
    PollTransmit,
    /// Write the first `n` bytes `pending_transmit` shows (`n` may exceed
    /// them) and report what was written with `advance_transmit`.
    PartialWrite(usize),
    /// The peer's frames, fed with `recv` in two chunks cut at
    /// `split % (len + 1)`; then, if `poll`, `poll_event` until `None` or an
    /// error.
    Recv {
        frames: Vec<PeerFrame>,
        split: usize,
        poll: bool,
    },
    /// `recv_eof`; then, if `poll`, `poll_event` until `None` or an error.
    RecvEof {
        poll: bool,
    },
    /// `poll_event` until `None` or an error.
    Poll,
    /// `poll_event` once.
    PollOne,
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Send(Result<(), SendError>),
    /// Bytes handed to the transport.
    Written(usize),
    /// The events polled, then the error if there was one.
    Events(Vec<Result<Event, ConnectionError>>),
    /// What one `poll_event` returned.
    Event(Result<Option<Event>, ConnectionError>),
    /// Input given, nothing polled.
    Fed,
}

/// The peer's bytes for `frame`: masked when we are the server (the peer is
/// a client), unmasked when we are the client.
fn peer_bytes(role: Role, frame: &PeerFrame) -> Vec<u8> {
    let mask = (role == Role::Server).then_some(MASK);
    let wrong_mask = (role == Role::Client).then_some(MASK);
    let min = LenEncoding::Minimal;
    match frame {
        PeerFrame::Data {
            opcode,
            payload,
            fin,
        } => common::frame(*fin, 0, *opcode, payload, mask, min),
        PeerFrame::Ping(p) => common::frame(true, 0, OP_PING, p, mask, min),
        PeerFrame::Pong(p) => common::frame(true, 0, OP_PONG, p, mask, min),
        PeerFrame::Close(p) => common::frame(true, 0, OP_CLOSE, p, mask, min),
        PeerFrame::ReservedOpcode(op) => common::frame(true, 0, *op, b"x", mask, min),
        PeerFrame::ReservedBits(rsv) => common::frame(true, *rsv, OP_PING, b"x", mask, min),
        PeerFrame::WrongMask => common::frame(true, 0, OP_PING, b"x", wrong_mask, min),
        PeerFrame::LongPing => common::frame(true, 0, OP_PING, &[b'p'; 126], mask, min),
        PeerFrame::FragmentedPing => common::frame(false, 0, OP_PING, b"x", mask, min),
    }
}

// ----- the model -----

/// The payload the model expects in a frame we send.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Payload {
    Exact(Vec<u8>),
    /// The close frame of a failure: the code is fixed by the error; the
    /// reason is the implementation's choice (any UTF-8 of at most 123
    /// bytes), learnt when the frame is first seen and fixed from then on.
    Failure {
        code: u16,
        reason: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Expected {
    opcode: u8,
    fin: bool,
    payload: Payload,
    lane: Lane,
}

/// How a frame was queued: in order with the data, or as a control frame
/// the connection owes on its own (an automatic pong), which goes out at
/// the next frame boundary, after the owed frames already waiting there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lane {
    /// In order, behind everything queued before it.
    Queued,
    /// Owed; `waits`: owed while data was pending (or beside owed frames
    /// that were), so a newer pong replaces it until it starts.
    Owed { waits: bool },
}

impl Expected {
    fn exact(opcode: u8, fin: bool, payload: &[u8]) -> Self {
        Expected {
            opcode,
            fin,
            payload: Payload::Exact(payload.to_vec()),
            lane: Lane::Queued,
        }
    }

    fn payload_len(&self) -> usize {
        match &self.payload {
            Payload::Exact(p) => p.len(),
            // Until the wire shows the reason (it is the last frame, behind
            // an urgent pong maybe), count the code alone.
            Payload::Failure { reason, .. } => 2 + reason.as_ref().map_or(0, String::len),
        }
    }
}

/// One endpoint as RFC 6455 describes it.
#[derive(Clone, Debug)]
struct Model {
    role: Role,
    auto_pong: bool,
    /// We sent (queued) a close frame: nothing may follow it (5.5.1).
    close_sent: bool,
    /// The peer's close frame was read: nothing after it is (5.5.1).
    close_read: bool,
    /// The peer's close frame was delivered to the application.
    close_received: bool,
    /// The peer's close, as delivered.
    peer_close: Option<CloseFrame>,
    initiator: Option<Initiator>,
    /// The transport ended.
    eof: bool,
    /// Events read but not yet delivered: replies (pong, close echo) are
    /// queued as each event is delivered, so the application can still
    /// answer what came before a close or an error.
    undelivered: VecDeque<Event>,
    /// A violation (or end of stream) found after `undelivered`: it fails
    /// the connection once they have been delivered.
    found: Option<ConnectionError>,
    /// The error that failed the connection (7.1.7); sticky.
    error: Option<ConnectionError>,
    /// Our fragmented message in progress: its kind and bytes so far (5.4).
    sending: Option<(MessageKind, Vec<u8>)>,
    /// The peer's fragmented message in progress.
    receiving_message: Option<(MessageKind, Vec<u8>)>,
    /// Every frame queued for the transport, in order.
    frames: Vec<Expected>,
    /// How many bytes of `frames` were handed to the transport.
    written: usize,
}

impl Model {
    fn new(role: Role, auto_pong: bool) -> Self {
        Model {
            role,
            auto_pong,
            close_sent: false,
            close_read: false,
            close_received: false,
            peer_close: None,
            initiator: None,
            eof: false,
            undelivered: VecDeque::new(),
            found: None,
            error: None,
            sending: None,
            receiving_message: None,
            frames: Vec::new(),
            written: 0,
        }
    }

    fn masked(&self) -> bool {
        self.role == Role::Client
    }

    fn total_len(&self) -> usize {
        let masked = self.masked();
        self.frames
            .iter()
            .map(|f| encoded_len(f.payload_len(), masked))
            .sum()
    }

    fn pending(&self) -> usize {
        self.total_len() - self.written
    }

    fn state(&self) -> State {
        let done = self.error.is_some() || (self.close_sent && self.close_received);
        if self.eof || (done && self.pending() == 0) {
            State::Closed
        } else {
            self.initiator.map_or(State::Open, State::Closing)
        }
    }

    fn queue(&mut self, frame: Expected) {
        assert!(!self.close_sent, "model bug: a frame after our close");
        self.frames.push(frame);
    }

    // ----- sending -----

    fn check_open(&self) -> Result<(), SendError> {
        if self.close_sent || self.eof || self.error.is_some() {
            Err(SendError::Closed)
        } else {
            Ok(())
        }
    }

    fn send_message(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), SendError> {
        self.check_open()?;
        if self.sending.is_some() {
            return Err(SendError::Misuse(Misuse::MessageInProgress));
        }
        self.queue(Expected::exact(data_opcode(kind), true, payload));
        Ok(())
    }

    fn send_fragment(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
    ) -> Result<(), SendError> {
        self.check_open()?;
        let (opcode, mut bytes) = match &self.sending {
            None => (data_opcode(kind), Vec::new()),
            Some((current, bytes)) if *current == kind => (OP_CONTINUATION, bytes.clone()),
            Some(_) => return Err(SendError::Misuse(Misuse::MessageInProgress)),
        };
        bytes.extend_from_slice(payload);
        if kind == MessageKind::Text {
            let valid = if fin {
                std::str::from_utf8(&bytes).is_ok()
            } else {
                utf8_prefix(&bytes)
            };
            if !valid {
                return Err(SendError::Misuse(Misuse::InvalidUtf8));
            }
        }
        self.queue(Expected::exact(opcode, fin, payload));
        self.sending = (!fin).then_some((kind, bytes));
        Ok(())
    }

    fn send_control(&mut self, opcode: u8, payload: &[u8]) -> Result<(), SendError> {
        self.check_open()?;
        if payload.len() > 125 {
            return Err(SendError::Misuse(Misuse::ControlPayloadTooLong(
                payload.len(),
            )));
        }
        self.queue(Expected::exact(opcode, true, payload));
        Ok(())
    }

    fn close(&mut self, code: u16, reason: &str) -> Result<(), SendError> {
        self.check_open()?;
        if !sendable(code) {
            return Err(SendError::Misuse(Misuse::UnsendableCloseCode(CloseCode(
                code,
            ))));
        }
        if reason.len() > 123 {
            return Err(SendError::Misuse(Misuse::CloseReasonTooLong(reason.len())));
        }
        self.queue(Expected::exact(
            OP_CLOSE,
            true,
            &close_payload(code, reason.as_bytes()),
        ));
        self.close_sent = true;
        self.initiator = Some(Initiator::Local);
        Ok(())
    }

    // ----- transmitting -----

    /// A partial write: at most what `pending_transmit` shows, which stops
    /// where the owed frames wait, or shows them together.
    fn write(&mut self, n: usize) -> usize {
        let spans = self.spans();
        let owed: Vec<usize> = (0..self.frames.len())
            .filter(|&i| self.is_owed(i) && spans[i].1 > self.written)
            .collect();
        let view = match (owed.first(), owed.last()) {
            (Some(&first), Some(&last)) if spans[first].0 <= self.written => {
                spans[last].1 - self.written
            }
            (Some(&first), _) => spans[first].0 - self.written,
            _ => self.pending(),
        };
        let n = n.min(view);
        self.written += n;
        n
    }

    fn is_owed(&self, i: usize) -> bool {
        matches!(self.frames[i].lane, Lane::Owed { .. })
    }

    /// `poll_transmit`: everything, owed frames in their places.
    fn write_all(&mut self) -> usize {
        let n = self.pending();
        self.written += n;
        n
    }

    /// Each frame's byte range on the wire.
    fn spans(&self) -> Vec<(usize, usize)> {
        let masked = self.masked();
        let mut at = 0;
        self.frames
            .iter()
            .map(|f| {
                let start = at;
                at += encoded_len(f.payload_len(), masked);
                (start, at)
            })
            .collect()
    }

    /// The index and end of the frame holding the next byte to write (at
    /// a boundary: the frame starting there).
    fn frame_around_written(&self) -> (usize, usize) {
        self.spans()
            .iter()
            .enumerate()
            .find(|(_, (_, end))| *end > self.written)
            .map_or((self.frames.len(), self.written), |(i, (_, end))| (i, *end))
    }

    /// Queues an automatic pong where the connection puts it.
    fn queue_pong(&mut self, payload: &[u8]) {
        let spans = self.spans();
        let mut pong = Expected::exact(OP_PONG, true, payload);
        let unwritten = |i: usize| spans[i].1 > self.written;
        let unstarted = |i: usize| spans[i].0 >= self.written;
        let owed: Vec<usize> = (0..self.frames.len())
            .filter(|&i| self.is_owed(i) && unwritten(i))
            .collect();
        let waiting = owed
            .iter()
            .any(|&i| self.frames[i].lane == Lane::Owed { waits: true });
        if waiting {
            // A newer pong replaces one waiting for the boundary and not
            // started, else joins them.
            pong.lane = Lane::Owed { waits: true };
            let replaceable = owed.iter().find(|&&i| {
                self.frames[i].opcode == OP_PONG
                    && self.frames[i].lane == Lane::Owed { waits: true }
                    && unstarted(i)
            });
            match replaceable {
                Some(&i) => self.frames[i] = pong,
                None => self.frames.insert(owed[owed.len() - 1] + 1, pong),
            }
            return;
        }
        let data_pending = (0..self.frames.len()).any(|i| !self.is_owed(i) && unwritten(i));
        pong.lane = Lane::Owed {
            waits: data_pending,
        };
        if let Some(&last) = owed.last() {
            // Behind the owed frames still waiting, so pongs keep their
            // order.
            self.frames.insert(last + 1, pong);
            return;
        }
        // At the next frame boundary: the start of the frame holding the
        // next byte to write if nothing of it is written, else its end.
        // (Nothing pending: at the end.)
        let (i, end) = self.frame_around_written();
        let at = if spans.get(i).is_none_or(|(start, _)| *start == self.written) {
            i
        } else {
            debug_assert!(end > self.written);
            i + 1
        };
        self.frames.insert(at, pong);
    }

    // ----- receiving -----

    /// Whether input is still read: not after the peer's close, the end
    /// of the transport, or a violation.
    fn reading(&self) -> bool {
        !self.close_read && !self.eof && self.found.is_none() && self.error.is_none()
    }

    /// Reads the peer's frames, up to its close frame or the first
    /// violation; what follows is ignored.
    fn feed(&mut self, frames: &[PeerFrame]) {
        for frame in frames {
            if !self.reading() {
                return;
            }
            match self.decode(frame) {
                Ok(None) => {}
                Ok(Some(event)) => {
                    self.close_read |= matches!(event, Event::Control(Control::Close(_)));
                    self.undelivered.push_back(event);
                }
                Err(error) => self.found = Some(error.into()),
            }
        }
    }

    /// One `poll_event`: the next event (and its reply), else the failure.
    fn poll_one(&mut self) -> Result<Option<Event>, ConnectionError> {
        if let Some(event) = self.undelivered.pop_front() {
            self.react(&event);
            return Ok(Some(event));
        }
        if let Some(error) = self.found.take() {
            self.fail(error);
        }
        self.error.map_or(Ok(None), Err)
    }

    fn poll(&mut self) -> Vec<Result<Event, ConnectionError>> {
        let mut events = Vec::new();
        loop {
            match self.poll_one() {
                Ok(Some(event)) => events.push(Ok(event)),
                Ok(None) => return events,
                Err(error) => {
                    events.push(Err(error));
                    return events;
                }
            }
        }
    }

    fn recv_eof(&mut self) {
        if self.reading() {
            // The transport ended without a close frame: 1006 (7.1.5).
            self.found = Some(ConnectionError::UnexpectedEof);
        }
        self.eof = true;
    }

    /// What a frame means on its own (sections 5.2-5.5, 8.1).
    fn decode(&mut self, frame: &PeerFrame) -> Result<Option<Event>, ProtocolError> {
        let event = match frame {
            PeerFrame::Data {
                opcode,
                payload,
                fin,
            } => {
                let message = match (*opcode, self.receiving_message.as_mut()) {
                    (OP_CONTINUATION, None) => return Err(ProtocolError::UnexpectedContinuation),
                    (OP_CONTINUATION, Some(message)) => message,
                    (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
                    (opcode, None) => {
                        let kind = if opcode == OP_TEXT {
                            MessageKind::Text
                        } else {
                            MessageKind::Binary
                        };
                        self.receiving_message.insert((kind, Vec::new()))
                    }
                };
                message.1.extend_from_slice(payload);
                if message.0 == MessageKind::Text && !utf8_prefix(&message.1) {
                    return Err(ProtocolError::InvalidUtf8);
                }
                if !fin {
                    return Ok(None);
                }
                let (kind, bytes) = self.receiving_message.take().expect("a message");
                match kind {
                    MessageKind::Binary => Event::Binary(bytes.into()),
                    MessageKind::Text => Event::Text(
                        String::from_utf8(bytes)
                            .map_err(|_| ProtocolError::InvalidUtf8)?
                            .into(),
                    ),
                }
            }
            PeerFrame::Ping(p) => {
                Event::Control(Control::Ping(ControlPayload::new(p).expect("at most 125")))
            }
            PeerFrame::Pong(p) => {
                Event::Control(Control::Pong(ControlPayload::new(p).expect("at most 125")))
            }
            PeerFrame::Close(payload) => Event::Control(Control::Close(match payload.as_slice() {
                [] => CloseFrame::new(CloseCode::NO_STATUS_RECEIVED, "").expect("fits"),
                [_] => return Err(ProtocolError::ClosePayloadTooShort),
                [hi, lo, reason @ ..] => {
                    let code = u16::from_be_bytes([*hi, *lo]);
                    if !sendable(code) {
                        return Err(ProtocolError::InvalidCloseCode(code));
                    }
                    let reason = std::str::from_utf8(reason)
                        .map_err(|_| ProtocolError::InvalidCloseReason)?;
                    CloseFrame::new(CloseCode(code), reason).expect("at most 123 bytes")
                }
            })),
            PeerFrame::ReservedOpcode(op) => return Err(ProtocolError::ReservedOpcode(*op)),
            PeerFrame::ReservedBits(rsv) => return Err(ProtocolError::ReservedBits(*rsv)),
            PeerFrame::WrongMask => {
                return Err(match self.role {
                    Role::Server => ProtocolError::UnmaskedFrame,
                    Role::Client => ProtocolError::MaskedFrame,
                });
            }
            PeerFrame::LongPing => return Err(ProtocolError::ControlFrameTooLong),
            PeerFrame::FragmentedPing => return Err(ProtocolError::FragmentedControlFrame),
        };
        Ok(Some(event))
    }

    /// The automatic replies, queued as the event is delivered.
    fn react(&mut self, event: &Event) {
        match event {
            // 5.5.2: a ping is answered with a pong of the same payload,
            // unless our close was already sent (nothing may follow it).
            Event::Control(Control::Ping(payload)) if self.auto_pong && !self.close_sent => {
                self.queue_pong(payload);
            }
            // 5.5.1: answer a close with a close unless we sent one first;
            // the echo carries the peer's code (none for an empty close).
            Event::Control(Control::Close(frame)) => {
                self.close_received = true;
                self.peer_close = Some(*frame);
                self.initiator.get_or_insert(Initiator::Remote);
                self.receiving_message = None;
                if !self.close_sent {
                    let echo = if frame.code() == CloseCode::NO_STATUS_RECEIVED {
                        Vec::new()
                    } else {
                        frame.code().0.to_be_bytes().to_vec()
                    };
                    self.queue(Expected::exact(OP_CLOSE, true, &echo));
                    self.close_sent = true;
                }
            }
            _ => {}
        }
    }

    /// 7.1.7: fail the connection. A close frame with the error's code is
    /// sent unless one was sent already or the code is 1006.
    fn fail(&mut self, error: ConnectionError) {
        self.error = Some(error);
        self.receiving_message = None;
        let code = rfc_close_code(error);
        if !self.close_sent && sendable(code) {
            self.queue(Expected {
                opcode: OP_CLOSE,
                fin: true,
                payload: Payload::Failure { code, reason: None },
                lane: Lane::Queued,
            });
            self.close_sent = true;
            self.initiator = Some(Initiator::Local);
        }
    }

    fn polled(&mut self, poll: bool) -> Outcome {
        if poll {
            Outcome::Events(self.poll())
        } else {
            Outcome::Fed
        }
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        match op {
            Op::SendText(text) => {
                Outcome::Send(self.send_message(MessageKind::Text, text.as_bytes()))
            }
            Op::SendBinary(data) => Outcome::Send(self.send_message(MessageKind::Binary, data)),
            Op::SendFragment { kind, payload, fin } => {
                Outcome::Send(self.send_fragment(*kind, payload, *fin))
            }
            Op::SendPing(p) => Outcome::Send(self.send_control(OP_PING, p)),
            Op::SendPong(p) => Outcome::Send(self.send_control(OP_PONG, p)),
            Op::Close { code, reason } => Outcome::Send(self.close(*code, reason)),
            Op::PollTransmit => Outcome::Written(self.write_all()),
            Op::PartialWrite(n) => Outcome::Written(self.write(*n)),
            Op::Recv { frames, poll, .. } => {
                self.feed(frames);
                self.polled(*poll)
            }
            Op::RecvEof { poll } => {
                self.recv_eof();
                self.polled(*poll)
            }
            Op::Poll => Outcome::Events(self.poll()),
            Op::PollOne => Outcome::Event(self.poll_one()),
        }
    }
}

// ----- the harness: the real connection next to the model -----

struct Harness {
    conn: Connection,
    model: Model,
    /// Every byte handed to the transport.
    wire: Vec<u8>,
    /// The operations so far, for failure messages.
    log: Vec<Op>,
}

impl Harness {
    fn new(role: Role, auto_pong: bool) -> Self {
        let mut config = Config::default();
        config.auto_pong = auto_pong;
        let conn = Connection::with_entropy(role, config, Box::new(ScriptedEntropy::xorshift()));
        Harness {
            conn,
            model: Model::new(role, auto_pong),
            wire: Vec::new(),
            log: Vec::new(),
        }
    }

    fn real(&mut self, op: &Op) -> Outcome {
        let conn = &mut self.conn;
        match op {
            Op::SendText(text) => Outcome::Send(conn.send_text(text)),
            Op::SendBinary(data) => Outcome::Send(conn.send_binary(data)),
            Op::SendFragment { kind, payload, fin } => {
                Outcome::Send(conn.send_fragment(*kind, payload, *fin))
            }
            Op::SendPing(p) => Outcome::Send(conn.send_ping(p)),
            Op::SendPong(p) => Outcome::Send(conn.send_pong(p)),
            Op::Close { code, reason } => {
                Outcome::Send(conn.close(std::time::Instant::now(), CloseCode(*code), reason))
            }
            Op::PollTransmit => {
                let before = self.wire.len();
                let n = conn.poll_transmit(&mut self.wire);
                assert_eq!(self.wire.len() - before, n, "poll_transmit's count");
                Outcome::Written(n)
            }
            Op::PartialWrite(n) => {
                let pending = conn.pending_transmit();
                let n_written = (*n).min(pending.len());
                self.wire.extend_from_slice(&pending[..n_written]);
                // What was written: `advance_transmit` may cross into the
                // chunks after `pending_transmit`.
                conn.advance_transmit(n_written);
                Outcome::Written(n_written)
            }
            Op::Recv {
                frames,
                split,
                poll,
            } => {
                let role = self.model.role;
                let bytes: Vec<u8> = frames.iter().flat_map(|f| peer_bytes(role, f)).collect();
                let (a, b) = bytes.split_at(split % (bytes.len() + 1));
                conn.recv(a);
                conn.recv(b);
                drain_if(conn, *poll)
            }
            Op::RecvEof { poll } => {
                conn.recv_eof();
                drain_if(conn, *poll)
            }
            Op::Poll => Outcome::Events(drain_events(conn)),
            Op::PollOne => Outcome::Event(conn.poll_event()),
        }
    }

    /// Applies `op` to both, checks that they agree, returns the outcome.
    fn step(&mut self, op: Op) -> Outcome {
        self.log.push(op.clone());
        let got = self.real(&op);
        self.learn_failure_reason();
        let want = self.model.apply(&op);
        let log = &self.log;
        assert_eq!(got, want, "return value; operations: {log:#?}");
        self.check_wire();
        let log = &self.log;
        assert_eq!(
            self.conn.state(),
            self.model.state(),
            "state; operations: {log:#?}"
        );
        got
    }

    /// The failure's close reason is the connection's to choose: learnt
    /// from the wire once written, before the model counts its bytes.
    fn learn_failure_reason(&mut self) {
        // Written and shown-pending bytes end at a frame boundary.
        let all = [&self.wire[..], self.conn.pending_transmit()].concat();
        let frames = parse_frames(&all);
        for (got, want) in frames.iter().zip(&mut self.model.frames) {
            if let Payload::Failure { reason, .. } = &mut want.payload {
                if reason.is_none() && got.opcode == OP_CLOSE && got.payload.len() >= 2 {
                    *reason = std::str::from_utf8(&got.payload[2..])
                        .ok()
                        .map(str::to_owned);
                }
            }
        }
    }

    /// Every frame written or pending against the model's, then the wire
    /// rules that hold whatever the model says.
    fn check_wire(&mut self) {
        // What is written and what `pending_transmit` shows end at a frame
        // boundary: the frames so far, in order. The rest follows once
        // they are written; the last step writes everything.
        let pending = self.conn.pending_transmit();
        let all = [&self.wire[..], pending].concat();
        let frames = parse_frames(&all);
        let log = &self.log;
        let model = &mut self.model;
        let buffered = self.conn.buffered_amount();
        let count_matches = if buffered == pending.len() {
            frames.len() == model.frames.len()
        } else {
            frames.len() < model.frames.len()
        };
        assert!(
            count_matches,
            "frame count: sent {frames:?}, model {:?}; operations: {log:#?}",
            model.frames
        );
        let masked = model.role == Role::Client;
        for (got, want) in frames.iter().zip(&mut model.frames) {
            let header = (got.opcode, got.fin, got.rsv, got.masked);
            assert_eq!(
                header,
                (want.opcode, want.fin, 0, masked),
                "{got:?} vs {want:?}"
            );
            match &mut want.payload {
                Payload::Exact(payload) => {
                    assert_eq!(&got.payload, payload, "{got:?}; operations: {log:#?}");
                }
                Payload::Failure { code, reason } => {
                    assert_eq!(
                        close_code(got),
                        Some(*code),
                        "{got:?}; operations: {log:#?}"
                    );
                    let text = std::str::from_utf8(&got.payload[2..]).expect("close_code checked");
                    assert!(text.len() <= 123);
                    match reason {
                        None => *reason = Some(text.to_owned()),
                        Some(learnt) => assert_eq!(learnt, text, "the failure close changed"),
                    }
                }
            }
        }
        assert_eq!(self.wire.len(), model.written, "bytes written");
        let learnt = model
            .frames
            .iter()
            .all(|f| !matches!(f.payload, Payload::Failure { reason: None, .. }));
        if learnt {
            assert_eq!(
                buffered,
                model.pending(),
                "bytes pending; operations: {log:#?}"
            );
        }
        // The failure's close carries the error's own close code; an echo
        // carries the peer's code.
        if let Some(close) = model.frames.iter().find(|f| f.opcode == OP_CLOSE) {
            match (&close.payload, model.error, model.initiator) {
                (Payload::Failure { code, .. }, Some(error), _) => {
                    assert_eq!(error.close_code(), CloseCode(*code));
                }
                (Payload::Exact(p), _, Some(Initiator::Remote)) => {
                    let peer = model.peer_close.expect("the peer's close");
                    let echo = (!p.is_empty()).then(|| u16::from_be_bytes([p[0], p[1]]));
                    let peer_code = (!peer.is_empty()).then_some(peer.code().0);
                    assert_eq!(echo, peer_code, "echo of {peer:?}");
                }
                _ => {}
            }
        }
        assert_wire_rules(&frames, self.model.role);
    }
}

fn drain_if(conn: &mut Connection, poll: bool) -> Outcome {
    if poll {
        Outcome::Events(drain_events(conn))
    } else {
        Outcome::Fed
    }
}

/// Polls until `None` or an error (at most 1000 events, far more than any
/// sequence feeds).
fn drain_events(conn: &mut Connection) -> Vec<Result<Event, ConnectionError>> {
    let mut events = Vec::new();
    for _ in 0..1000 {
        match conn.poll_event() {
            Ok(Some(event)) => events.push(Ok(event)),
            Ok(None) => return events,
            Err(error) => {
                events.push(Err(error));
                return events;
            }
        }
    }
    panic!("poll_event never returned None: {events:?}");
}

/// RFC 6455 rules for everything an endpoint sends, model or not: frames
/// masked by clients only, no reserved bits, control frames final and at
/// most 125 bytes, fragments in order (5.4), at most one close frame, with
/// a sendable code (never 1005, 1006 or 1015), and nothing after it (5.5.1:
/// no data frame; the documented behaviour: no frame at all).
fn assert_wire_rules(frames: &[WireFrame], role: Role) {
    let mut in_message = false;
    let mut closed = false;
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(frame.masked, role == Role::Client, "masking of {frame:?}");
        assert_eq!(frame.rsv, 0, "reserved bits in {frame:?}");
        if closed {
            assert!(
                !matches!(frame.opcode, OP_CONTINUATION | OP_TEXT | OP_BINARY),
                "data frame {i} after our close: {frames:?}"
            );
            panic!("frame {i} after our close: {frames:?}");
        }
        match frame.opcode {
            OP_CONTINUATION => {
                assert!(in_message, "continuation without a message: {frames:?}");
                in_message = !frame.fin;
            }
            OP_TEXT | OP_BINARY => {
                assert!(!in_message, "new message inside a message: {frames:?}");
                in_message = !frame.fin;
            }
            OP_PING | OP_PONG | OP_CLOSE => {
                assert!(frame.fin && frame.payload.len() <= 125, "{frame:?}");
                if frame.opcode == OP_CLOSE {
                    if let Some(code) = close_code(frame) {
                        assert!(sendable(code), "close code {code} sent");
                        assert_ne!(code, 1006);
                    }
                    closed = true;
                }
            }
            other => panic!("opcode {other:#x} sent"),
        }
    }
}

// ----- strategies -----

const VALID_CODES: [u16; 10] = [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4000, 4999];
const INVALID_CODES: [u16; 10] = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535];

fn kind() -> impl Strategy<Value = MessageKind> {
    prop_oneof![Just(MessageKind::Text), Just(MessageKind::Binary)]
}

/// Bytes that are text, pieces of multi-byte characters, or never valid
/// (0xFF), so fragments split characters and some break UTF-8.
fn utf8ish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => "[a-zé€]{0,4}".prop_map(String::into_bytes),
        2 => prop::collection::vec(select(vec![b'a', 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xff]), 0..5),
    ]
}

/// Data payloads: mostly short, sometimes past 125 bytes (16-bit length).
fn data_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..6),
        1 => prop::collection::vec(Just(b'd'), 124..=130),
    ]
}

fn text_payload() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zé€𝄞]{0,5}",
        1 => "[a-z]{126,130}",
    ]
}

/// Ping and pong payloads, some over the 125-byte limit.
fn control_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => prop::collection::vec(any::<u8>(), 0..4),
        1 => Just(vec![b'c'; 125]),
        1 => Just(vec![b'c'; 126]),
        1 => Just(vec![b'c'; 200]),
    ]
}

/// Close reasons around the 123-byte limit, counted in bytes.
fn reason() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z]{0,5}",
        1 => Just("é".repeat(61)),  // 122 bytes
        1 => Just("r".repeat(123)),
        1 => Just("r".repeat(124)),
        1 => Just("é".repeat(62)),  // 124 bytes
        1 => Just("r".repeat(200)),
    ]
}

fn close_code_any() -> impl Strategy<Value = u16> {
    prop_oneof![3 => select(VALID_CODES.to_vec()), 1 => select(INVALID_CODES.to_vec())]
}

/// A close payload from the peer: valid, empty, or invalid in one way.
fn peer_close_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => (select(VALID_CODES.to_vec()), prop_oneof![3 => "[a-z]{0,5}", 1 => "[a-z]{123}"])
            .prop_map(|(code, reason)| close_payload(code, reason.as_bytes())),
        3 => Just(Vec::new()),
        1 => any::<u8>().prop_map(|b| vec![b]),
        1 => select(INVALID_CODES.to_vec()).prop_map(|code| close_payload(code, b"")),
        1 => select(VALID_CODES.to_vec()).prop_map(|code| close_payload(code, b"bye \xff")),
    ]
}

/// Peer data payloads: mostly valid text, sometimes bytes that split or
/// break UTF-8, sometimes binary (short or past 125 bytes).
fn peer_data_payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[a-zé€]{0,4}".prop_map(String::into_bytes),
        1 => utf8ish(),
        1 => data_payload(),
    ]
}

/// One protocol violation, of a kind that does not depend on the message
/// in progress.
fn peer_violation() -> impl Strategy<Value = PeerFrame> {
    prop_oneof![
        prop_oneof![3u8..=7, 0xbu8..=0xf].prop_map(PeerFrame::ReservedOpcode),
        (1u8..=7).prop_map(PeerFrame::ReservedBits),
        Just(PeerFrame::WrongMask),
        Just(PeerFrame::LongPing),
        Just(PeerFrame::FragmentedPing),
    ]
}

fn peer_frame() -> impl Strategy<Value = PeerFrame> {
    prop_oneof![
        10 => (
            prop_oneof![3 => Just(OP_TEXT), 2 => Just(OP_BINARY), 1 => Just(OP_CONTINUATION)],
            peer_data_payload(),
            prop_oneof![3 => Just(true), 1 => Just(false)],
        )
            .prop_map(|(opcode, payload, fin)| PeerFrame::Data { opcode, payload, fin }),
        3 => prop::collection::vec(any::<u8>(), 0..4).prop_map(PeerFrame::Ping),
        1 => Just(PeerFrame::Ping(vec![b'p'; 125])),
        2 => prop::collection::vec(any::<u8>(), 0..4).prop_map(PeerFrame::Pong),
        3 => peer_close_payload().prop_map(PeerFrame::Close),
        1 => peer_violation(),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => text_payload().prop_map(Op::SendText),
        2 => data_payload().prop_map(Op::SendBinary),
        4 => (kind(), utf8ish(), prop_oneof![1 => Just(true), 2 => Just(false)])
            .prop_map(|(kind, payload, fin)| Op::SendFragment { kind, payload, fin }),
        2 => control_payload().prop_map(Op::SendPing),
        1 => control_payload().prop_map(Op::SendPong),
        3 => (close_code_any(), reason()).prop_map(|(code, reason)| Op::Close { code, reason }),
        4 => Just(Op::PollTransmit),
        3 => select(vec![0usize, 1, 2, 3, 7, 1000]).prop_map(Op::PartialWrite),
        9 => (
            prop::collection::vec(peer_frame(), 1..=2),
            any::<usize>(),
            prop_oneof![2 => Just(true), 1 => Just(false)],
        )
            .prop_map(|(frames, split, poll)| Op::Recv { frames, split, poll }),
        1 => any::<bool>().prop_map(|poll| Op::RecvEof { poll }),
        1 => Just(Op::Poll),
        3 => Just(Op::PollOne),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        // Do not write regression files into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn connection_agrees_with_the_close_model(
        server in any::<bool>(),
        auto_pong in prop_oneof![4 => Just(true), 1 => Just(false)],
        ops in prop::collection::vec(op(), 1..30),
    ) {
        let role = if server { Role::Server } else { Role::Client };
        let mut harness = Harness::new(role, auto_pong);
        for op in ops {
            harness.step(op);
        }
        // However it ended, writing out what is left settles the state.
        harness.step(Op::PollTransmit);
        harness.step(Op::RecvEof { poll: true });
        prop_assert_eq!(harness.conn.state(), State::Closed);
    }
}

// ----- concrete examples of the edges the model handles -----

fn recv(frames: Vec<PeerFrame>) -> Op {
    Op::Recv {
        frames,
        split: 0,
        poll: true,
    }
}

/// Feeds without polling.
fn feed(frames: Vec<PeerFrame>) -> Op {
    Op::Recv {
        frames,
        split: 0,
        poll: false,
    }
}

const EOF: Op = Op::RecvEof { poll: true };

fn peer_text(text: &str) -> PeerFrame {
    PeerFrame::Data {
        opcode: OP_TEXT,
        payload: text.as_bytes().to_vec(),
        fin: true,
    }
}

fn peer_close(code: u16, reason: &str) -> PeerFrame {
    PeerFrame::Close(close_payload(code, reason.as_bytes()))
}

fn events(events: Vec<Result<Event, ConnectionError>>) -> Outcome {
    Outcome::Events(events)
}

fn close_op(code: u16, reason: &str) -> Op {
    Op::Close {
        code,
        reason: reason.to_owned(),
    }
}

#[test]
fn empty_close_is_echoed_empty_and_closed_once_the_echo_is_written() {
    let mut h = Harness::new(Role::Server, true);
    let out = h.step(recv(vec![PeerFrame::Close(vec![])]));
    assert_eq!(out, events(vec![close_empty()]));
    assert_eq!(h.conn.state(), State::Closing(Initiator::Remote));
    assert_eq!(h.step(Op::PartialWrite(1)), Outcome::Written(1));
    assert_eq!(h.conn.state(), State::Closing(Initiator::Remote));
    assert_eq!(h.step(Op::PartialWrite(1000)), Outcome::Written(1));
    assert_eq!(h.conn.state(), State::Closed);
    assert_eq!(h.wire, [0x88, 0x00]);
}

#[test]
fn close_echo_carries_the_peers_code_without_its_reason() {
    let mut h = Harness::new(Role::Client, true);
    let out = h.step(recv(vec![peer_close(4001, "bye"), peer_text("ignored")]));
    assert_eq!(out, events(vec![close(4001, "bye")]));
    assert_eq!(h.step(Op::PollTransmit), Outcome::Written(8));
    let frames = parse_frames(&h.wire);
    assert_eq!(frames.len(), 1);
    assert!(frames[0].masked);
    assert_eq!(frames[0].payload, [0x0f, 0xa1]);
    assert_eq!(h.conn.state(), State::Closed);
    assert_eq!(
        h.step(Op::SendText("late".into())),
        Outcome::Send(Err(SendError::Closed))
    );
}

#[test]
fn crossing_closes_send_one_close_and_stay_local_until_written() {
    let mut h = Harness::new(Role::Server, true);
    assert_eq!(h.step(close_op(1000, "a")), Outcome::Send(Ok(())));
    let out = h.step(recv(vec![peer_close(1001, "")]));
    assert_eq!(out, events(vec![close(1001, "")]));
    // Both closes are done, but ours is not written yet.
    assert_eq!(h.conn.state(), State::Closing(Initiator::Local));
    assert_eq!(h.step(Op::PollTransmit), Outcome::Written(5));
    assert_eq!(h.wire, [0x88, 0x03, 0x03, 0xe8, b'a']);
    assert_eq!(h.conn.state(), State::Closed);
}

#[test]
fn after_our_close_pings_get_no_pong_and_data_cannot_be_sent() {
    let mut h = Harness::new(Role::Server, true);
    let fragment = |payload: &[u8], fin| Op::SendFragment {
        kind: MessageKind::Text,
        payload: payload.to_vec(),
        fin,
    };
    assert_eq!(h.step(fragment(b"a", false)), Outcome::Send(Ok(())));
    assert_eq!(h.step(close_op(1001, "")), Outcome::Send(Ok(())));
    let out = h.step(recv(vec![
        PeerFrame::Ping(b"p".to_vec()),
        peer_text("still read"),
    ]));
    assert_eq!(out, events(vec![ping(b"p"), text("still read")]));
    let closed = Outcome::Send(Err(SendError::Closed));
    assert_eq!(h.step(fragment(b"b", true)), closed);
    assert_eq!(h.step(Op::SendPing(vec![])), closed);
    assert_eq!(h.step(Op::SendPong(vec![])), closed);
    assert_eq!(h.step(close_op(1000, "")), closed);
    h.step(Op::PollTransmit);
    assert_eq!(h.wire, [0x01, 0x01, b'a', 0x88, 0x02, 0x03, 0xe9]);
    assert_eq!(h.conn.state(), State::Closing(Initiator::Local));
}

#[test]
fn a_ping_is_answered_between_fragments_of_our_message() {
    let mut h = Harness::new(Role::Server, true);
    let start = Op::SendFragment {
        kind: MessageKind::Binary,
        payload: vec![1],
        fin: false,
    };
    assert_eq!(h.step(start), Outcome::Send(Ok(())));
    h.step(recv(vec![PeerFrame::Ping(vec![9])]));
    let end = Op::SendFragment {
        kind: MessageKind::Binary,
        payload: vec![2],
        fin: true,
    };
    assert_eq!(h.step(end), Outcome::Send(Ok(())));
    h.step(Op::PollTransmit);
    // The first fragment was queued, not written: the pong goes first.
    assert_eq!(h.wire, [0x8a, 0x01, 9, 0x02, 0x01, 1, 0x80, 0x01, 2]);
}

#[test]
fn a_pong_overtakes_queued_data_at_the_next_frame_boundary() {
    let mut h = Harness::new(Role::Server, true);
    let first = Op::SendBinary(vec![1; 4]);
    assert_eq!(h.step(first), Outcome::Send(Ok(())));
    assert_eq!(h.step(Op::SendBinary(vec![2])), Outcome::Send(Ok(())));
    // Half of the first frame is out when the ping arrives.
    assert_eq!(h.step(Op::PartialWrite(3)), Outcome::Written(3));
    h.step(recv(vec![PeerFrame::Ping(vec![9])]));
    // The rest of the first frame, then the pong, then the second frame.
    assert_eq!(h.step(Op::PartialWrite(100)), Outcome::Written(3));
    assert_eq!(h.step(Op::PartialWrite(100)), Outcome::Written(3));
    h.step(Op::PollTransmit);
    assert_eq!(
        h.wire,
        [0x82, 0x04, 1, 1, 1, 1, 0x8a, 0x01, 9, 0x82, 0x01, 2]
    );
}

#[test]
fn unsendable_codes_and_long_reasons_are_refused_and_change_nothing() {
    let mut h = Harness::new(Role::Client, true);
    for code in [1005, 1006, 1015, 999, 5000] {
        let refused = Outcome::Send(Err(SendError::Misuse(Misuse::UnsendableCloseCode(
            CloseCode(code),
        ))));
        assert_eq!(h.step(close_op(code, "")), refused);
    }
    let long = "é".repeat(62);
    let refused = Outcome::Send(Err(SendError::Misuse(Misuse::CloseReasonTooLong(124))));
    assert_eq!(h.step(close_op(1000, &long)), refused);
    assert_eq!(h.conn.state(), State::Open);
    assert!(h.conn.pending_transmit().is_empty());
    assert_eq!(
        h.step(close_op(1000, &"é".repeat(61))),
        Outcome::Send(Ok(()))
    );
    assert_eq!(h.conn.state(), State::Closing(Initiator::Local));
    // 2 + 4 (mask) + 2 + 122: the 124-byte payload still fits a short length.
    assert_eq!(h.step(Op::PollTransmit), Outcome::Written(130));
}

#[test]
fn a_protocol_error_queues_one_close_with_its_code_and_is_sticky() {
    let mut h = Harness::new(Role::Server, true);
    let out = h.step(recv(vec![
        peer_text("ok"),
        PeerFrame::ReservedOpcode(3),
        peer_text("ignored"),
    ]));
    let error = ProtocolError::ReservedOpcode(3);
    assert_eq!(out, events(vec![text("ok"), Err(error.into())]));
    assert_eq!(h.conn.state(), State::Closing(Initiator::Local));
    assert_eq!(
        h.step(recv(vec![peer_text("more")])),
        events(vec![Err(error.into())])
    );
    assert_eq!(
        h.step(Op::SendText("x".into())),
        Outcome::Send(Err(SendError::Closed))
    );
    h.step(Op::PollTransmit);
    assert_eq!(sent_close_code(&h.wire), Some(1002));
    assert_eq!(h.conn.state(), State::Closed);
    assert_eq!(h.step(EOF), events(vec![Err(error.into())]));
}

#[test]
fn invalid_close_frames_from_the_peer_are_answered_1002_or_1007() {
    let cases = [
        (
            close_payload(1005, b""),
            ProtocolError::InvalidCloseCode(1005),
            1002,
        ),
        (vec![0x03], ProtocolError::ClosePayloadTooShort, 1002),
        (
            close_payload(1000, b"\xff"),
            ProtocolError::InvalidCloseReason,
            1007,
        ),
    ];
    for (payload, error, code) in cases {
        for role in [Role::Server, Role::Client] {
            let mut h = Harness::new(role, true);
            let out = h.step(recv(vec![PeerFrame::Close(payload.clone())]));
            assert_eq!(out, events(vec![Err(error.into())]));
            h.step(Op::PollTransmit);
            assert_eq!(sent_close_code(&h.wire), Some(code));
            assert_eq!(h.conn.state(), State::Closed);
        }
    }
}

#[test]
fn a_protocol_error_after_our_close_sends_no_second_close() {
    let mut h = Harness::new(Role::Server, true);
    h.step(close_op(3000, ""));
    h.step(Op::PollTransmit);
    let out = h.step(recv(vec![PeerFrame::Close(vec![0x03])]));
    assert_eq!(
        out,
        events(vec![Err(ProtocolError::ClosePayloadTooShort.into())])
    );
    assert!(h.conn.pending_transmit().is_empty());
    assert_eq!(h.conn.state(), State::Closed);
    assert_eq!(h.wire, [0x88, 0x02, 0x0b, 0xb8]);
}

#[test]
fn eof_closes_at_once_even_with_output_queued_and_sends_no_1006() {
    let mut h = Harness::new(Role::Server, true);
    h.step(Op::SendText("x".into()));
    let out = h.step(EOF);
    assert_eq!(out, events(vec![Err(ConnectionError::UnexpectedEof)]));
    assert_eq!(h.conn.state(), State::Closed);
    assert_eq!(h.conn.pending_transmit(), [0x81, 0x01, b'x']);
    assert_eq!(
        h.step(close_op(1000, "")),
        Outcome::Send(Err(SendError::Closed))
    );
    assert_eq!(h.step(Op::PollTransmit), Outcome::Written(3));
    assert_eq!(h.wire, [0x81, 0x01, b'x']);
}

#[test]
fn eof_after_the_closing_handshake_is_clean() {
    let mut h = Harness::new(Role::Client, true);
    h.step(recv(vec![peer_close(1000, "")]));
    assert_eq!(h.conn.state(), State::Closing(Initiator::Remote));
    assert_eq!(h.step(EOF), events(vec![]));
    assert_eq!(h.conn.state(), State::Closed);
    // The echo may still be written.
    assert_eq!(h.step(Op::PollTransmit), Outcome::Written(8));
}

#[test]
fn eof_while_awaiting_the_peers_close_is_abnormal() {
    let mut h = Harness::new(Role::Server, true);
    h.step(close_op(1000, ""));
    h.step(Op::PollTransmit);
    assert_eq!(h.conn.state(), State::Closing(Initiator::Local));
    let out = h.step(EOF);
    assert_eq!(out, events(vec![Err(ConnectionError::UnexpectedEof)]));
    assert_eq!(h.conn.state(), State::Closed);
}

#[test]
fn a_fragmented_message_cut_by_the_peers_close_is_dropped() {
    let mut h = Harness::new(Role::Server, true);
    let first = PeerFrame::Data {
        opcode: OP_TEXT,
        payload: b"par".to_vec(),
        fin: false,
    };
    let rest = PeerFrame::Data {
        opcode: OP_CONTINUATION,
        payload: b"t".to_vec(),
        fin: true,
    };
    let out = h.step(recv(vec![first, peer_close(1000, ""), rest]));
    assert_eq!(out, events(vec![close(1000, "")]));
    h.step(Op::PollTransmit);
    assert_eq!(h.wire, [0x88, 0x02, 0x03, 0xe8]);
}

#[test]
fn replies_are_queued_as_events_are_delivered() {
    let mut h = Harness::new(Role::Server, true);
    let fed = h.step(feed(vec![peer_text("a"), PeerFrame::Ping(b"p".to_vec())]));
    assert_eq!(fed, Outcome::Fed);
    assert_eq!(h.step(feed(vec![peer_close(1000, "")])), Outcome::Fed);
    // The close is read but not delivered: still open, still answerable.
    assert_eq!(h.conn.state(), State::Open);
    assert_eq!(h.step(Op::SendText("r1".into())), Outcome::Send(Ok(())));
    assert_eq!(h.step(Op::PollOne), Outcome::Event(text("a").map(Some)));
    assert_eq!(h.step(Op::PollOne), Outcome::Event(ping(b"p").map(Some)));
    assert_eq!(h.step(Op::SendText("r2".into())), Outcome::Send(Ok(())));
    assert_eq!(
        h.step(Op::PollOne),
        Outcome::Event(close(1000, "").map(Some))
    );
    assert_eq!(h.conn.state(), State::Closing(Initiator::Remote));
    assert_eq!(h.step(Op::PollOne), Outcome::Event(Ok(None)));
    h.step(Op::PollTransmit);
    // The pong overtakes r1, queued but not written when the ping was
    // delivered.
    let expected = [
        &[0x8a, 0x01, b'p'][..],
        &[0x81, 0x02, b'r', b'1'],
        &[0x81, 0x02, b'r', b'2'],
        &[0x88, 0x02, 0x03, 0xe8],
    ]
    .concat();
    assert_eq!(h.wire, expected);
    assert_eq!(h.conn.state(), State::Closed);
}

#[test]
fn eof_after_a_close_that_was_read_but_not_delivered_is_clean() {
    let mut h = Harness::new(Role::Client, true);
    h.step(feed(vec![peer_close(1001, "")]));
    assert_eq!(h.step(Op::RecvEof { poll: false }), Outcome::Fed);
    assert_eq!(h.conn.state(), State::Closed);
    // The close frame arrived before the end of the stream: no 1006.
    assert_eq!(h.step(Op::Poll), events(vec![close(1001, "")]));
    assert_eq!(h.step(Op::Poll), events(vec![]));
}

#[test]
fn a_violation_read_before_eof_is_reported_instead_of_1006() {
    let mut h = Harness::new(Role::Server, true);
    h.step(feed(vec![PeerFrame::WrongMask]));
    // Not delivered yet: the application may still send.
    assert_eq!(h.step(Op::SendText("x".into())), Outcome::Send(Ok(())));
    h.step(Op::RecvEof { poll: false });
    let out = h.step(Op::Poll);
    assert_eq!(out, events(vec![Err(ProtocolError::UnmaskedFrame.into())]));
    h.step(Op::PollTransmit);
    let frames = sent_frames(&h.wire);
    assert_eq!(frames[0], (OP_TEXT, b"x".to_vec()));
    assert_eq!(sent_close_code(&h.wire), Some(1002));
}
