//! The streaming receive level: payload handed out as it arrives,
//! unmasked in the caller's buffer, or inflated into the connection's own
//! (permessage-deflate).

use super::{Connection, Lent, Streaming};
use crate::error::{ConnectionError, ProtocolError};
use crate::event::{Control, MessageKind, StreamEvent};
use crate::prelude::*;
use crate::recv::Step;
use bytes::Buf;
use core::ops::Range;

/// The streaming level's buffer for inflated payload.
#[cfg(feature = "deflate")]
const INFLATE_CHUNK: usize = 16 << 10;

/// What the connection held and handed out ([`Connection::take_held`]).
enum Held {
    /// The part of a message gathered at the message level.
    Message(MessageKind),
    /// An event decoded from the bytes it held.
    Input(Found),
}

/// What one streaming step found, before the payload is borrowed.
enum Found {
    Nothing,
    Control(Control),
    /// Payload in the caller's input.
    Plain {
        range: Range<usize>,
        kind: MessageKind,
        fin: bool,
    },
    /// Inflated payload in `Connection::inflated`.
    #[cfg(feature = "deflate")]
    Inflated {
        len: usize,
        kind: MessageKind,
        fin: bool,
    },
}

impl Connection<Streaming> {
    /// Decodes from `input` until one event is found or `input` is used up,
    /// unmasking data payload in place; returns how many bytes were consumed
    /// and the event, if any. Call again with `&mut input[consumed..]` until
    /// it returns `None`; then read more. Memory use does not depend on
    /// message size: a 10 GB message passes through in pieces.
    ///
    /// A compressed message (permessage-deflate) comes out inflated, in
    /// pieces of at most 16 KiB from a buffer inside the connection (so the
    /// event borrows the connection too). When one piece of input inflates
    /// to more than that, the following calls report 0 bytes consumed until
    /// it is all handed out. So it is with bytes the connection holds from
    /// before [`into_streaming`](Connection::into_streaming) (a
    /// handshake's leftover): they come first, from the connection's
    /// buffer, with 0 bytes of `input` consumed.
    ///
    /// ```
    /// use wsproto::{Config, Connection, Role, StreamEvent};
    ///
    /// let mut server = Connection::new(Role::Server, Config::default()).into_streaming();
    /// // A masked text frame "Hello" (RFC 6455 section 5.7).
    /// let mut buf = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let mut received = Vec::new();
    /// let mut at = 0;
    /// loop {
    ///     let (used, event) = server.recv_in_place(&mut buf[at..])?;
    ///     at += used;
    ///     match event {
    ///         Some(StreamEvent::Data { payload, .. }) => received.extend_from_slice(payload),
    ///         Some(_) => {}
    ///         None => break,
    ///     }
    /// }
    /// assert_eq!(received, b"Hello");
    /// # Ok::<(), wsproto::ConnectionError>(())
    /// ```
    pub fn recv_in_place<'a>(
        &'a mut self,
        input: &'a mut [u8],
    ) -> Result<(usize, Option<StreamEvent<'a>>), ConnectionError> {
        self.heard |= !input.is_empty();
        if self.fast_path_open() {
            if let Some(found) = self.receiver.whole_message(input) {
                return match self.receiver.whole_event(input, found) {
                    Ok(event) => Ok(event),
                    Err(error) => {
                        self.fail(error);
                        Err(error.into())
                    }
                };
            }
        }
        self.recv_in_place_general(input)
    }

    /// Everything but the fast path: kept out of line, so that the fast
    /// path does not pay for the general one's stack frame.
    #[inline(never)]
    fn recv_in_place_general<'a>(
        &'a mut self,
        input: &'a mut [u8],
    ) -> Result<(usize, Option<StreamEvent<'a>>), ConnectionError> {
        if self.failed().is_some() {
            // A timer's ending too: this level hands nothing out after it.
            self.input_exhausted()?;
        }
        if self.held {
            if let Some((kind, len)) = self.take_predecoded(input.len()) {
                let payload = &input[..len];
                return Ok((
                    len,
                    Some(StreamEvent::Data {
                        kind,
                        payload,
                        fin: false,
                    }),
                ));
            }
            if let Some(held) = self.take_held()? {
                return Ok((0, self.held_event(held)));
            }
        }
        if !self.receiving() {
            return Ok((input.len(), None));
        }
        if !self.taking_input() {
            // Input after the transport's end is ignored.
            self.input_exhausted()?;
            return Ok((input.len(), None));
        }
        let (used, found) = match self.stream_step(input) {
            Ok(found) => found,
            Err(error) => {
                self.fail(error);
                return Err(error.into());
            }
        };
        // Each arm builds its own result: a shared one would copy the
        // largest event (a close frame) on every data piece.
        match found {
            Found::Nothing if used == input.len() => {
                self.input_exhausted()?;
                Ok((used, None))
            }
            Found::Nothing => Ok((used, None)),
            Found::Control(control) => Ok((used, Some(StreamEvent::Control(control)))),
            Found::Plain { range, kind, fin } => Ok((
                used,
                Some(StreamEvent::Data {
                    kind,
                    payload: &input[range],
                    fin,
                }),
            )),
            #[cfg(feature = "deflate")]
            Found::Inflated { len, kind, fin } => Ok((
                used,
                self.inflating().map(|inflating| StreamEvent::Data {
                    kind,
                    payload: &inflating.inflated[..len],
                    fin,
                }),
            )),
        }
    }

    /// Whether a whole message at the front of the input may skip the
    /// general path: nothing pending, failed or closed, and no inflated
    /// output waiting to come first.
    #[inline]
    fn fast_path_open(&self) -> bool {
        #[cfg(feature = "deflate")]
        let inflating = self.inflating().is_some();
        #[cfg(not(feature = "deflate"))]
        let inflating = false;
        self.taking_input() && !inflating && !self.held
    }

    /// Decodes from what the connection holds (see
    /// [`Inbox`](super::Inbox)), first giving back what the last call lent:
    /// the part of a message gathered at the message level, then the bytes
    /// not yet decoded. `None` once it holds nothing: the caller's input is
    /// next.
    fn take_held(&mut self) -> Result<Option<Held>, ProtocolError> {
        let receiving = self.receiving();
        let Some(extras) = self.extras.as_deref_mut() else {
            self.held = false;
            return Ok(None);
        };
        let inbox = &mut extras.inbox;
        match core::mem::take(&mut inbox.lent) {
            Lent::Nothing => {}
            Lent::Input(used) => inbox.input.advance(used),
            Lent::Message => inbox.message = Vec::new(),
        }
        if !inbox.message.is_empty() {
            inbox.lent = Lent::Message;
            return Ok(Some(Held::Message(self.receiver.message_kind())));
        }
        if inbox.input.is_empty() || !receiving {
            if inbox.predecoded == 0 || !receiving {
                self.release_inbox();
            }
            return Ok(None);
        }
        let mut input = core::mem::take(&mut inbox.input);
        let (used, found) = match self.stream_step(&mut input) {
            Ok(found) => found,
            Err(error) => {
                self.fail(error);
                return Err(error);
            }
        };
        match found {
            // All of it went into a partial header or frame.
            Found::Nothing => {
                self.release_inbox();
                Ok(None)
            }
            // A control frame (the peer's close, maybe) or inflated output
            // does not borrow the input.
            _ if !self.receiving() => Ok(Some(Held::Input(found))),
            _ => {
                let inbox = &mut self.extras().inbox;
                inbox.input = input;
                inbox.lent = Lent::Input(used);
                Ok(Some(Held::Input(found)))
            }
        }
    }

    /// The part of a message the message level decoded in place in the
    /// caller's buffer (see [`into_streaming`](Connection::into_streaming)),
    /// at the front of `available` bytes of input: its kind and how many
    /// of its bytes are there, to hand out as they are.
    fn take_predecoded(&mut self, available: usize) -> Option<(MessageKind, usize)> {
        let kind = self.receiver.message_kind();
        let predecoded = &mut self.extras.as_deref_mut()?.inbox.predecoded;
        let len = available.min(*predecoded);
        if len == 0 {
            return None;
        }
        *predecoded -= len;
        Some((kind, len))
    }

    /// The event [`take_held`](Self::take_held) found, borrowed from the
    /// connection.
    fn held_event(&self, held: Held) -> Option<StreamEvent<'_>> {
        // A control frame borrows nothing: the peer's close may have let
        // the inbox, and the extras with it, go.
        if let Held::Input(Found::Control(control)) = held {
            return Some(StreamEvent::Control(control));
        }
        let inbox = &self.extras.as_deref()?.inbox;
        match held {
            Held::Message(kind) => Some(StreamEvent::Data {
                kind,
                payload: &inbox.message,
                fin: false,
            }),
            Held::Input(Found::Nothing) => None,
            Held::Input(Found::Control(_)) => None, // handled above
            Held::Input(Found::Plain { range, kind, fin }) => Some(StreamEvent::Data {
                kind,
                payload: inbox.input.get(range)?,
                fin,
            }),
            #[cfg(feature = "deflate")]
            Held::Input(Found::Inflated { len, kind, fin }) => {
                self.inflating().map(|inflating| StreamEvent::Data {
                    kind,
                    payload: &inflating.inflated[..len],
                    fin,
                })
            }
        }
    }

    /// One streaming event's worth of decoding: the bytes used and what was
    /// found, payload still unborrowed. A compressed piece that inflates to
    /// nothing yet is not an event: decoding goes on.
    // Without deflate every step is an event, so the loop runs once.
    #[cfg_attr(not(feature = "deflate"), allow(clippy::never_loop))]
    fn stream_step(&mut self, input: &mut [u8]) -> Result<(usize, Found), ProtocolError> {
        #[cfg(feature = "deflate")]
        if let Some(found) = self.inflate_more(false)? {
            // Output left over from the last piece comes before new input.
            return Ok((0, found));
        }
        let mut used = 0;
        loop {
            let (took, step) = self.receiver.step(&input[used..])?;
            let at = used;
            used += took;
            let found = match step {
                Step::NeedMore => Found::Nothing,
                Step::Control(control) => {
                    match &control {
                        Control::Ping(payload) => self.answer_ping(payload),
                        Control::Pong(_) => {}
                        Control::Close(frame) => {
                            self.answer_close(frame);
                        }
                    }
                    Found::Control(control)
                }
                #[cfg(feature = "deflate")]
                Step::Data(piece) if piece.compressed => {
                    let range = at + piece.range.start..at + piece.range.end;
                    // Unmasked in the decompressor's copy, not in `input`.
                    self.take_compressed(&input[range], &piece)?;
                    match self.inflate_more(true)? {
                        Some(found) => found,
                        None => continue,
                    }
                }
                Step::Data(piece) => {
                    let range = at + piece.range.start..at + piece.range.end;
                    self.receiver
                        .accept_data(&mut input[range.clone()], &piece)?;
                    Found::Plain {
                        range,
                        kind: piece.kind,
                        fin: piece.fin,
                    }
                }
            };
            return Ok((used, found));
        }
    }

    /// Inflates into the streaming buffer: after a piece was just taken
    /// (`fresh`), or when the last output filled up. `None` when there is
    /// nothing to report: no output waiting, or a piece that gave no output
    /// yet.
    #[cfg(feature = "deflate")]
    fn inflate_more(&mut self, fresh: bool) -> Result<Option<Found>, ProtocolError> {
        let Some(super::Inflating {
            inbound, inflated, ..
        }) = self
            .extras
            .as_deref_mut()
            .and_then(|extras| extras.inflating.as_deref_mut())
        else {
            return Ok(None);
        };
        if !fresh && !inbound.has_pending() {
            return Ok(None);
        }
        // Read before inflating: a completed message forgets its kind.
        let kind = inbound.kind().unwrap_or(MessageKind::Binary);
        if inflated.len() < INFLATE_CHUNK {
            inflated.resize(INFLATE_CHUNK, 0);
        }
        let step = inbound.inflate_into(inflated)?;
        Ok((step.written > 0 || step.done).then_some(Found::Inflated {
            len: step.written,
            kind,
            fin: step.done,
        }))
    }
}
