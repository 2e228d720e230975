//! The receive state machine on `core` alone, for targets without an
//! allocator: the streaming level of [`Connection`](crate::Connection)
//! without the replies.

use crate::config::{Config, Role};
use crate::error::ProtocolError;
use crate::event::{Control, StreamEvent};
use crate::recv::{Receiver, Step};

/// Decodes a peer's frames in place in the caller's buffer: every RFC 6455
/// rule and configured limit is checked, payload is unmasked where it lies
/// and UTF-8 validated as it arrives, and nothing is allocated. It builds
/// without the `alloc` feature.
///
/// It is what [`Connection::recv_in_place`](crate::Connection::recv_in_place)
/// does, minus what needs an outbox: answering pings, echoing the peer's
/// close and sending the failure's close frame are the caller's (build the
/// frames with [`frame::FrameHeader::encode`](crate::frame::FrameHeader::encode)
/// and [`frame::apply_mask`](crate::frame::apply_mask); the error's
/// [`close_code`](ProtocolError::close_code) says what to send).
/// permessage-deflate is not negotiated here, so a compressed frame is
/// refused with 1002.
///
/// ```
/// use wsproto::{Config, Control, Decoder, Role, StreamEvent};
///
/// let mut decoder = Decoder::new(Role::Server, &Config::default());
/// // A masked "Hello" (RFC 6455 section 5.7), then a masked ping.
/// let mut input = [
///     0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
///     0x89, 0x80, 1, 2, 3, 4,
/// ];
/// let (used, event) = decoder.decode(&mut input)?;
/// assert!(matches!(event, Some(StreamEvent::Data { payload: b"Hello", fin: true, .. })));
/// let (_, event) = decoder.decode(&mut input[used..])?;
/// assert!(matches!(event, Some(StreamEvent::Control(Control::Ping(_))))); // answer it yourself
/// # Ok::<(), wsproto::ProtocolError>(())
/// ```
#[derive(Debug)]
pub struct Decoder {
    receiver: Receiver,
    state: Reading,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    Frames,
    /// The peer's close frame was read: what follows is ignored (RFC 6455
    /// section 5.5.1).
    Closed,
    /// Sticky: every later call returns it.
    Failed(ProtocolError),
}

impl Decoder {
    /// A decoder for the frames a `role` endpoint receives (a server
    /// requires masked frames, a client unmasked ones), held to `config`'s
    /// [`max_frame_len`](Config::max_frame_len) and
    /// [`max_message_len`](Config::max_message_len).
    pub fn new(role: Role, config: &Config) -> Self {
        Decoder {
            receiver: Receiver::new(role, config),
            state: Reading::Frames,
        }
    }

    /// Decodes from `input` until one event is found or `input` is used
    /// up; returns how many bytes were consumed and the event, if any. Call
    /// again with `&mut input[consumed..]` until it returns `None`, then
    /// read more. Input may be split anywhere: a header cut between two
    /// reads is kept inside the decoder (at most 14 bytes), a control
    /// payload cut between two reads too (at most 125).
    ///
    /// Data payload comes out in pieces, in place in `input`; a text
    /// message's pieces may split a character, the message as a whole is
    /// valid UTF-8. After the peer's close frame every byte is consumed
    /// and ignored. An error is sticky.
    pub fn decode<'a>(
        &mut self,
        input: &'a mut [u8],
    ) -> Result<(usize, Option<StreamEvent<'a>>), ProtocolError> {
        match self.state {
            Reading::Frames => {}
            Reading::Closed => return Ok((input.len(), None)),
            Reading::Failed(error) => return Err(error),
        }
        // A whole unfragmented message at the front: judged in one step.
        let decoded = match self.receiver.whole_message(input) {
            Some(found) => self.receiver.whole_event(input, found),
            None => self.step(input),
        };
        decoded.inspect_err(|&error| self.state = Reading::Failed(error))
    }

    /// Whether the peer's close frame has been decoded.
    pub fn is_closed(&self) -> bool {
        self.state == Reading::Closed
    }

    fn step<'a>(
        &mut self,
        input: &'a mut [u8],
    ) -> Result<(usize, Option<StreamEvent<'a>>), ProtocolError> {
        let (used, step) = self.receiver.step(input)?;
        match step {
            Step::NeedMore => Ok((used, None)),
            Step::Control(control) => {
                if matches!(control, Control::Close(_)) {
                    self.state = Reading::Closed;
                }
                Ok((used, Some(StreamEvent::Control(control))))
            }
            Step::Data(piece) => {
                let range = piece.range.clone();
                self.receiver
                    .accept_data(&mut input[range.clone()], &piece)?;
                let event = StreamEvent::Data {
                    kind: piece.kind,
                    payload: &input[range],
                    fin: piece.fin,
                };
                Ok((used, Some(event)))
            }
        }
    }
}
