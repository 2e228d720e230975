//! The message level: whole messages, owned by the caller.
//!
//! Input waits undecoded (in the caller's `BytesMut`, or in the inbox for
//! bytes fed with `recv`) and is decoded one event per poll, so nothing is
//! queued and a message is never copied to be queued. A message sent as
//! one uncompressed frame is split off the buffer it was read into and
//! unmasked there: no copy. When such a frame is not all in yet, what has
//! arrived is unmasked and validated in place at the front of that buffer
//! (so bad text fails as soon as it arrives) and room for more is reserved
//! there, so the next reads land where the message will be handed out
//! from. A fragmented message is gathered once, unmasked and validated
//! piece by piece; a compressed one is inflated into its own buffer. Text
//! is validated once, as it arrives, and handed out as `Utf8Bytes`, which
//! is not validated again. Room is reserved from a frame's header once the
//! limits are checked, at most 1 MiB ahead of what has arrived (address
//! space, touched only as bytes arrive).

#[cfg(feature = "deflate")]
use super::Extras;
use super::{Connection, Messages};
use crate::error::{ConnectionError, ProtocolError};
use crate::event::{Control, Event, MessageKind};
use crate::frame::{FrameHeader, OpCode, ParsedHeader};
use crate::prelude::*;
use crate::recv::{DataPiece, Position, RSV1, Step};
use crate::utf8_bytes::Utf8Bytes;
use bytes::{Buf, Bytes, BytesMut};

/// The most room reserved from a frame header for payload not yet
/// received (after the limits were checked): a message up to this size is
/// read in place with no regrowth, as the peers do. Beyond it, room grows
/// by doubling what has arrived. It is address space: its pages are
/// touched only as bytes arrive, so a header alone costs no resident
/// memory, and never more than this much address space.
const RESERVED_AHEAD: u64 = 1 << 20;

/// Messages up to this size get room for three more like them when their
/// buffer grows: 1 MiB ahead at most.
const FEW_MORE_UP_TO: usize = 256 << 10;

/// Frames from this size on get [`READ_PAST`] bytes of room past their
/// end, and their buffer wraps early (`Connection::single_frame`).
const LARGE_FRAME: usize = 32 << 10;

/// Room past a large frame's end for the start of the next one: what a
/// driver that reserves a read's worth when less is left waits for (as
/// the benches' and the docs' drivers do).
const READ_PAST: usize = 4 << 10;

/// Room for the rest of a frame (`rest` bytes) next to `held` bytes of
/// its message: all of it up to [`RESERVED_AHEAD`], else as much again as
/// is held.
fn room_ahead(rest: u64, held: usize) -> usize {
    // At most the bytes held, or 1 MiB: the cast cannot truncate.
    rest.min((held as u64).max(RESERVED_AHEAD)) as usize
}

impl Connection<Messages> {
    /// Feeds bytes read from the transport, in chunks of any size; they
    /// are decoded, one event at a time, by [`poll_event`](Self::poll_event).
    /// This copies `input` into the connection: a driver that reads into a
    /// `BytesMut` of its own avoids the copy with
    /// [`poll_event_from`](Self::poll_event_from).
    ///
    /// Bytes given after the transport ended ([`recv_eof`](Self::recv_eof))
    /// are ignored; so are those after the peer's close frame, or after the
    /// connection failed (RFC 6455 section 5.5.1), once decoding reaches
    /// them. The connection holds what is fed until it is polled, so poll
    /// after each read.
    pub fn recv(&mut self, input: &[u8]) {
        self.hold_input(input);
    }

    /// The next message-level event from the bytes fed with
    /// [`recv`](Self::recv), in the order the peer sent them; `Ok(None)`
    /// when they hold no further whole event (feed more).
    ///
    /// Replies happen as events are polled: the pong when its ping is
    /// polled, the close echo when the close is polled, the failure's close
    /// frame when the error is returned. So the application can still
    /// answer the messages that arrived before a close or an error. Once
    /// the connection has failed, every call returns the same
    /// [`ConnectionError`].
    pub fn poll_event(&mut self) -> Result<Option<Event>, ConnectionError> {
        if self.caller_holds > 0 && self.failed().is_none() {
            // Part of a frame waits in a buffer given to `poll_event_from`:
            // what `recv` took comes after it.
            return Ok(None);
        }
        let mut input = match self.extras.as_deref_mut() {
            Some(extras) => core::mem::take(&mut extras.inbox.input),
            None => BytesMut::new(),
        };
        // Its input is out of the extras box while it decodes: the box is
        // let go below, if at all, once the input is back.
        let event = self.decode(&mut input, false);
        // What is left waits for more. Inside a message the buffer is kept
        // even when empty, so a message fed in small reads costs no
        // allocation per read; between messages an empty one is let go,
        // so an idle connection holds no heap.
        let inside = !input.is_empty() || !self.receiver.between_messages();
        if inside && self.receiving() {
            self.extras().inbox.input = input;
        } else {
            self.release_idle_extras();
        }
        event
    }

    /// The next message-level event from the front of `buf`, bytes read
    /// from the transport into a buffer of the caller's: what it decodes is
    /// split off `buf`, and a message sent in one frame is handed out
    /// without a copy (its payload shares `buf`'s memory until dropped).
    /// `Ok(None)` means `buf` holds no further whole event: read more onto
    /// its end and call again. While a message sent in one frame is partly
    /// in, it is decoded in place at the front of `buf` (bad text fails as
    /// soon as it arrives) and room for the rest is reserved there (up to
    /// 1 MiB ahead of what has arrived, never more than the frame needs
    /// and, for a frame of 32 KiB or more, 4 KiB past it), so the next
    /// reads land where the message will be handed out from. When the
    /// buffer would not hold another such frame after it, its spare room
    /// is cut to end 4 KiB past the frame (its capacity shrinks), so that
    /// the next frame starts near the buffer's front rather than be moved
    /// there whole. So: read into `buf`'s spare room, all of it, and
    /// reserve a read's worth only when less than 4 KiB is left.
    ///
    /// What `buf` holds after a call belongs to the connection's stream:
    /// keep it at the front, and read onto its end. Bytes fed with
    /// [`recv`](Self::recv) (or read by the handshake past its head) are
    /// decoded in the order they came: `buf` may then be replaced by a
    /// buffer holding both. (Feed one way, though: while `buf` holds part
    /// of a frame, [`poll_event`](Self::poll_event) waits for it.) Bytes
    /// after the peer's close frame, or after a failure, are cleared from
    /// `buf`. Replies and errors as in [`poll_event`](Self::poll_event).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use wsproto::{Config, Connection, Event, Role};
    ///
    /// let mut server = Connection::new(Role::Server, Config::default());
    /// // As read from the socket: a masked "Hello" (RFC 6455 section 5.7), cut short.
    /// let mut buf = BytesMut::from(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f][..]);
    /// assert_eq!(server.poll_event_from(&mut buf)?, None);
    /// buf.extend_from_slice(&[0x9f, 0x4d, 0x51, 0x58]); // the next read
    /// let Some(Event::Text(text)) = server.poll_event_from(&mut buf)? else { panic!() };
    /// assert_eq!(text, "Hello");
    /// assert!(buf.is_empty());
    /// # Ok::<(), wsproto::ConnectionError>(())
    /// ```
    pub fn poll_event_from(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<Event>, ConnectionError> {
        // Only bytes past those `buf` held after the last call are news
        // from the peer: a frame stalled half-way is held on every call,
        // and counting it kept the keepalive from ever pinging.
        self.heard |= buf.len() > self.caller_holds as usize;
        let holds = (core::mem::take(&mut self.caller_holds) as usize).min(buf.len());
        if let Some(extras) = self.extras.as_deref_mut() {
            if !extras.inbox.input.is_empty() {
                // In the order they came: what this buffer held before,
                // what `recv` took since, what was read into it since.
                let mut held = core::mem::take(&mut extras.inbox.input);
                if holds == 0 {
                    held.extend_from_slice(buf);
                    *buf = held;
                } else {
                    let newer = buf.split_off(holds);
                    buf.unsplit(held);
                    buf.unsplit(newer);
                }
            }
        }
        let event = self.decode(buf, true);
        self.caller_holds = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        event
    }

    /// One event from `buf`; a failure is acted on (its close frame queued)
    /// and sticky. With `release`, an idle extras box is let go once `buf`
    /// holds no further event: once per read, not per message.
    #[inline]
    fn decode(
        &mut self,
        buf: &mut BytesMut,
        release: bool,
    ) -> Result<Option<Event>, ConnectionError> {
        if self.lifecycle.failed() {
            buf.clear();
            // Reports the sticky error.
            return self.input_exhausted().map(|()| None);
        }
        // `next_event` returns this function's type, so a message passes
        // through untouched: converting its error type here made a copy of
        // the 128-byte result per message (17 instructions).
        match self.next_event(buf) {
            Ok(Some(event)) => Ok(Some(event)),
            Ok(None) => {
                if release {
                    // What the box held, a gathered message or an owed
                    // pong, is gone.
                    self.release_idle_extras();
                }
                self.input_exhausted().map(|()| None)
            }
            Err(error) => {
                buf.clear();
                // Decoding fails only on a violation.
                if let ConnectionError::Protocol(violation) = error {
                    self.fail(violation);
                }
                Err(error)
            }
        }
    }

    /// Decodes from the front of `buf` until an event is whole; `None`
    /// when more bytes are needed.
    fn next_event(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, ConnectionError> {
        loop {
            if !self.receiving() {
                buf.clear();
                return Ok(None);
            }
            // A whole unfragmented message (short header): split off and
            // unmasked in place, without the general path.
            if let Some((used, piece)) = self.receiver.whole_message(buf) {
                let mut payload = buf.split_to(used);
                payload.advance(piece.range.start);
                self.receiver.accept_whole(&mut payload, &piece)?;
                return Ok(Some(message_event(piece.kind, payload.freeze())));
            }
            match self.receiver.position() {
                Position::SingleFramePayload { decoded, .. } => {
                    return self.single_frame(buf, decoded);
                }
                Position::FrameStart => {
                    // An invalid header is the error the decoder would give.
                    let ParsedHeader::Complete { header, .. } =
                        FrameHeader::parse(buf).map_err(ProtocolError::from)?
                    else {
                        return Ok(None);
                    };
                    let single = header.fin
                        && matches!(header.opcode, OpCode::Text | OpCode::Binary)
                        && header.rsv & RSV1 == 0;
                    if single {
                        return self.single_frame(buf, 0);
                    }
                }
                Position::Elsewhere => {}
            }
            let (used, step) = self.receiver.step(buf)?;
            match step {
                Step::NeedMore => {
                    buf.advance(used);
                    return Ok(None);
                }
                Step::Control(control) => {
                    buf.advance(used);
                    match &control {
                        Control::Ping(payload) => self.answer_ping(payload),
                        Control::Pong(_) => {}
                        Control::Close(frame) => {
                            self.answer_close(frame);
                        }
                    }
                    return Ok(Some(Event::Control(control)));
                }
                #[cfg(feature = "deflate")]
                Step::Data(piece) if piece.compressed => {
                    let complete = self.inflate_piece(&buf[piece.range.clone()], &piece)?;
                    buf.advance(used);
                    if complete {
                        return Ok(Some(self.take_gathered(piece.kind)));
                    }
                }
                Step::Data(piece) => {
                    self.gather(&buf[piece.range.clone()], &piece)?;
                    buf.advance(used);
                    if piece.fin {
                        return Ok(Some(self.take_gathered(piece.kind)));
                    }
                }
            }
        }
    }

    /// A message sent as one uncompressed frame (its header at the front
    /// of `buf`, or its first `decoded` payload bytes there, unmasked and
    /// validated by earlier calls): what has arrived is unmasked and
    /// validated in place, so invalid text fails as soon as it arrives,
    /// and the message is split off once whole, without a copy. Until
    /// then it stays at the front of `buf`, with room reserved for the
    /// rest.
    fn single_frame(
        &mut self,
        buf: &mut BytesMut,
        decoded: usize,
    ) -> Result<Option<Event>, ConnectionError> {
        let Some(fresh) = buf.get_mut(decoded..) else {
            // The bytes decoded so far are in another buffer: the caller
            // moved from `poll_event_from` to `poll_event`. They are
            // decoded when that buffer comes back.
            return Ok(None);
        };
        let (used, step) = self.receiver.step(fresh)?;
        let mut decoded = decoded;
        if let Step::Data(piece) = &step {
            self.receiver
                .accept_data(&mut fresh[piece.range.clone()], piece)?;
            // Only a frame's first piece follows its header (`decoded` is
            // then 0): drop the header so the payload starts `buf`.
            debug_assert!(decoded == 0 || piece.range.start == 0);
            buf.advance(piece.range.start);
            decoded += piece.range.len();
            if piece.fin {
                let payload = buf.split_to(decoded);
                return Ok(Some(message_event(piece.kind, payload.freeze())));
            }
        } else {
            // The header alone, or nothing.
            buf.advance(used);
        }
        // All of `buf` is decoded now: room for the rest of the frame, so
        // the next reads land where the message will be split off. A large
        // frame gets room past its end too, for the start of the next
        // one: a driver that reserves when less than a read's worth is
        // left then need not, and that start is small when it must be
        // moved (below).
        let held = buf.len();
        let remaining = self.receiver.frame_remaining();
        let rest = room_ahead(remaining, held);
        let frame = held.saturating_add(rest);
        let past = if frame >= LARGE_FRAME { READ_PAST } else { 0 };
        let wanted = room_ahead(remaining.saturating_add(past as u64), held);
        if buf.capacity() - held < wanted {
            // Growing: room for a few more messages of this size too (up to
            // 1 MiB in all). The reads that follow run into the next
            // message; in a buffer that holds one message, each would
            // start near its end and be moved to its front to be whole
            // (measured: 0.68x fastwebsockets at 64 KiB; 0.87x with this).
            let more = if frame <= FEW_MORE_UP_TO {
                3 * frame
            } else {
                0
            };
            // Within 1 MiB ahead, however the parts add up.
            let ahead = wanted.max(RESERVED_AHEAD as usize);
            buf.reserve(wanted.saturating_add(more).min(ahead));
        }
        // Wrapping early: when the room past this frame will not hold
        // another like it, the spare room ends `READ_PAST` bytes past its
        // end, so the next read stops there. The next frame then starts
        // with at most that much when it is moved to the buffer's front,
        // not with whatever a read brought up to the end of the buffer
        // (at 64 KiB, a third of a message per message, measured).
        if past > 0 && wanted as u64 == remaining.saturating_add(past as u64) {
            // The whole rest is within `wanted`, itself within the capacity.
            let after = buf.capacity() - held - (wanted - past);
            if after > past && after < frame + past {
                drop(buf.split_off(held + wanted));
            }
        }
        Ok(None)
    }

    /// Copies a piece of a fragmented message onto the message being
    /// gathered, then unmasks and validates it there. Room for the rest of
    /// the frame is reserved from its header (see [`room_ahead`]).
    fn gather(&mut self, bytes: &[u8], piece: &DataPiece) -> Result<(), ProtocolError> {
        let frame_rest = self.receiver.frame_remaining();
        let message = &mut self.extras.get_or_insert_with(Box::default).inbox.message;
        if message.capacity() - message.len() < bytes.len() {
            let wanted = (bytes.len() as u64).saturating_add(frame_rest);
            // If the allocator refuses, the copy below asks for what it
            // needs and no more.
            let _ = message.try_reserve(room_ahead(wanted, message.len()));
        }
        let start = message.len();
        message.extend_from_slice(bytes);
        self.receiver.count_examined(bytes.len());
        self.receiver.accept_data(&mut message[start..], piece)
    }

    /// The message gathered (validated as it came), handed out.
    fn take_gathered(&mut self, kind: MessageKind) -> Event {
        let data = core::mem::take(&mut self.extras().inbox.message);
        message_event(kind, Bytes::from(data))
    }

    /// Unmasks a compressed piece into the decompressor and inflates it
    /// onto the message being gathered; returns whether it completed.
    #[cfg(feature = "deflate")]
    fn inflate_piece(&mut self, bytes: &[u8], piece: &DataPiece) -> Result<bool, ProtocolError> {
        self.take_compressed(bytes, piece)?;
        let Extras {
            inbox, inflating, ..
        } = self.extras();
        inflating.as_mut().map_or(Ok(false), |inflating| {
            inflating.inbound.inflate_onto(&mut inbox.message)
        })
    }
}

/// A whole message as an event; text was validated as it arrived.
fn message_event(kind: MessageKind, payload: Bytes) -> Event {
    match kind {
        MessageKind::Text => Event::Text(Utf8Bytes::from_validated(payload)),
        MessageKind::Binary => Event::Binary(payload),
    }
}
