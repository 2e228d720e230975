//! Inbound frames: header parsing across chunk boundaries, the rules of
//! fragmentation and control frames, limits, unmasking and UTF-8.
//!
//! The decoder never copies data payload. It reports where payload bytes sit
//! in the caller's input ([`Step::Data`]); the message level copies them into
//! its reassembly buffer, the streaming level leaves them in place; both then
//! call [`Receiver::accept_data`] to unmask and validate them.

use crate::close::CloseFrame;
use crate::config::{Config, Role};
use crate::error::ProtocolError;
use crate::event::{Control, ControlPayload, MAX_CONTROL_PAYLOAD, MessageKind, StreamEvent};
use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, ParsedHeader, apply_mask};
use crate::meter::Meter;
use crate::utf8::Utf8Validator;
use core::ops::Range;

/// What one decoding step found.
#[derive(Debug)]
pub(crate) enum Step {
    /// All input was consumed; more bytes are needed.
    NeedMore,
    /// Payload bytes of a data message. Pass them, unmasked or not, to
    /// [`Receiver::accept_data`] with this `DataPiece`.
    Data(DataPiece),
    /// A complete, validated control frame.
    Control(Control),
}

/// Where payload bytes lie and how to unmask them.
#[derive(Debug)]
pub(crate) struct DataPiece {
    /// The bytes' position in the input given to [`Receiver::step`].
    pub(crate) range: Range<usize>,
    pub(crate) kind: MessageKind,
    /// Whether these are the last bytes of the message.
    pub(crate) fin: bool,
    /// Whether the message is compressed (RSV1 on its first frame): the
    /// bytes are DEFLATE data, validated once inflated.
    pub(crate) compressed: bool,
    mask: Option<[u8; 4]>,
    /// Position of the first byte within its frame's payload, modulo 256
    /// (enough for the masking key's phase).
    offset: u8,
}

/// Where the decoder stands (see [`Receiver::position`]).
#[cfg(feature = "alloc")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Position {
    /// Between frames, no header byte read yet.
    FrameStart,
    /// Inside the payload of a message sent as one uncompressed frame, of
    /// which `decoded` bytes were handed out.
    SingleFramePayload { decoded: usize },
    /// Anywhere else: inside a header, a fragment, a compressed or a
    /// control frame, or a frame partly read.
    Elsewhere,
}

/// The frame whose payload is being read.
#[derive(Debug)]
struct Frame {
    opcode: OpCode,
    fin: bool,
    mask: Option<[u8; 4]>,
    /// Payload bytes still to come.
    remaining: u64,
    /// How far into the payload we are, modulo 256: all unmasking needs
    /// (the key's phase) and all a control payload (at most 125 bytes)
    /// needs. Kept to a byte so the connection stays small.
    at: u8,
}

/// Where the decoder is: between frames (possibly inside a header split
/// across inputs) or inside a frame's payload. One or the other, so they
/// share their bytes.
#[derive(Debug)]
enum Reading {
    /// The first `len` bytes of the next header (none yet when 0).
    Header {
        bytes: [u8; MAX_HEADER_LEN],
        len: u8,
    },
    Payload(Frame),
}

impl Reading {
    const BETWEEN_FRAMES: Reading = Reading::Header {
        bytes: [0; MAX_HEADER_LEN],
        len: 0,
    };
}

/// The data message in progress (between its first and final frame).
#[derive(Debug)]
struct Message {
    kind: MessageKind,
    compressed: bool,
    len: u64,
    utf8: Utf8Validator,
}

/// A buffer for a control payload split across inputs: boxed with `alloc`
/// (an idle connection then holds none), inline on `core` alone.
#[cfg(feature = "alloc")]
type Gathered = alloc::boxed::Box<[u8; MAX_CONTROL_PAYLOAD]>;
#[cfg(not(feature = "alloc"))]
type Gathered = [u8; MAX_CONTROL_PAYLOAD];

fn new_gather() -> Gathered {
    #[cfg(feature = "alloc")]
    return alloc::boxed::Box::new([0; MAX_CONTROL_PAYLOAD]);
    #[cfg(not(feature = "alloc"))]
    [0; MAX_CONTROL_PAYLOAD]
}

/// RSV1: permessage-deflate's "this message is compressed".
pub(crate) const RSV1: u8 = 0b100;

/// The most payload of a compressed message handed out per step: the
/// decompressor copies it, so this bounds what it holds.
const COMPRESSED_PIECE: u64 = 16 << 10;

/// The inbound half of a connection.
#[derive(Debug)]
pub(crate) struct Receiver {
    role: Role,
    max_frame_len: u64,
    max_message_len: u64,
    /// What the message being received may announce for now, uncompressed
    /// (`Connection::set_receive_allowance`); `u64::MAX` unless set.
    allowance: u64,
    /// RSV bits a negotiated extension defines (RSV1 with
    /// permessage-deflate); any other set bit fails the connection with 1002.
    extension_rsv: u8,
    /// A header split across inputs is kept here, not boxed: the streaming
    /// level allocates nothing however its input is cut.
    reading: Reading,
    message: Option<Message>,
    /// A control payload split across inputs, gathered until it is
    /// complete: boxed on demand and freed once used, so an idle
    /// connection holds none.
    gathered: Option<Gathered>,
    /// Bytes parsed, copied, unmasked and validated so far: the work meter
    /// the linear-work tests read.
    examined: Meter,
}

impl Receiver {
    pub(crate) fn new(role: Role, config: &Config) -> Self {
        Receiver {
            role,
            max_frame_len: config.max_frame_len,
            max_message_len: config.max_message_len,
            allowance: u64::MAX,
            extension_rsv: 0,
            reading: Reading::BETWEEN_FRAMES,
            message: None,
            gathered: None,
            examined: Meter::ZERO,
        }
    }

    /// The role it decodes for.
    #[cfg(feature = "alloc")]
    pub(crate) fn role(&self) -> Role {
        self.role
    }

    /// Accepts RSV1 on the first frame of a data message: permessage-deflate
    /// was negotiated.
    #[cfg(feature = "deflate")]
    pub(crate) fn allow_compression(&mut self) {
        self.extension_rsv |= RSV1;
    }

    /// Bytes parsed, copied, unmasked and validated so far.
    #[cfg(feature = "test-meter")]
    #[cfg_attr(not(feature = "alloc"), allow(dead_code))]
    pub(crate) fn examined(&self) -> u64 {
        self.examined.get()
    }

    /// Counts work the connection did on received bytes (copying them
    /// into a message, validating it whole), so one meter covers both.
    #[cfg_attr(not(feature = "alloc"), allow(dead_code))]
    pub(crate) fn count_examined(&mut self, bytes: usize) {
        self.examined += bytes as u64;
    }

    /// Decodes from `input` until something is found or the input is used
    /// up; returns how many bytes were consumed and what was found.
    pub(crate) fn step(&mut self, input: &[u8]) -> Result<(usize, Step), ProtocolError> {
        if let Some((used, piece)) = self.whole_message(input) {
            return Ok((used, Step::Data(piece)));
        }
        let mut pos = 0;
        loop {
            let Reading::Payload(frame) = &mut self.reading else {
                let Some(used) = self.read_header(&input[pos..])? else {
                    return Ok((input.len(), Step::NeedMore));
                };
                pos += used;
                if let Some(step) = self.empty_frame_step(pos)? {
                    return Ok((pos, step));
                }
                continue;
            };
            let available = (input.len() - pos) as u64;
            if available == 0 {
                return Ok((pos, Step::NeedMore));
            }
            let compressed = self.message.as_ref().is_some_and(|m| m.compressed);
            let most = if compressed && !frame.opcode.is_control() {
                COMPRESSED_PIECE
            } else {
                u64::MAX
            };
            // Bounded by the input length, so the cast cannot truncate.
            let take = frame.remaining.min(available).min(most) as usize;
            let range = pos..pos + take;
            let offset = frame.at;
            frame.remaining -= take as u64;
            // Modulo 256 on purpose (see `Frame::at`).
            frame.at = frame.at.wrapping_add(take as u8);
            pos += take;
            let frame_done = frame.remaining == 0;
            if frame.opcode.is_control() {
                // Control payloads are at most 125 bytes and validated whole:
                // one that arrives whole is unmasked on the stack; one split
                // across inputs is gathered in a buffer boxed until it is
                // complete, so an idle connection holds none.
                self.examined += take as u64;
                let (opcode, mask) = (frame.opcode, frame.mask);
                let mut local = [0u8; MAX_CONTROL_PAYLOAD];
                let whole = offset == 0 && frame_done;
                let payload = if whole {
                    &mut local[..take]
                } else {
                    let at = usize::from(offset);
                    &mut self.gathered.get_or_insert_with(new_gather)[at..at + take]
                };
                payload.copy_from_slice(&input[range]);
                if let Some(key) = mask {
                    apply_mask(payload, key, u64::from(offset));
                }
                if frame_done {
                    let len = usize::from(offset) + take;
                    self.reading = Reading::BETWEEN_FRAMES;
                    let control = match self.gathered.take() {
                        Some(gathered) if !whole => Self::control_frame(opcode, &gathered[..len])?,
                        _ => Self::control_frame(opcode, &local[..len])?,
                    };
                    return Ok((pos, Step::Control(control)));
                }
                continue;
            }
            let (fin, mask) = (frame_done && frame.fin, frame.mask);
            if frame_done {
                self.reading = Reading::BETWEEN_FRAMES;
            }
            let piece = DataPiece {
                range,
                kind: self.message_kind(),
                fin,
                compressed,
                mask,
                offset,
            };
            return Ok((pos, Step::Data(piece)));
        }
    }

    /// The fast path for the common case: `input` starts with a whole
    /// unfragmented, uncompressed data message (header and payload, short
    /// or 16-bit length) that breaks no rule; `None` sends everything else
    /// down the general path, which judges it from scratch.
    #[inline]
    pub(crate) fn whole_message(&mut self, input: &[u8]) -> Option<(usize, DataPiece)> {
        if !matches!(self.reading, Reading::Header { len: 0, .. }) || self.message.is_some() {
            return None;
        }
        let [first, second, ..] = *input else {
            return None;
        };
        // FIN, no RSV bit, text or binary.
        let kind = match first {
            0x81 => MessageKind::Text,
            0x82 => MessageKind::Binary,
            _ => return None,
        };
        let masked = second & 0x80 != 0;
        if masked != (self.role == Role::Server) {
            return None;
        }
        let (len, mut at) = match second & 0x7f {
            126 => {
                let bytes = input.get(2..4)?;
                (usize::from(u16::from_be_bytes([bytes[0], bytes[1]])), 4)
            }
            127 => return None,
            short => (usize::from(short), 2),
        };
        let mask = if masked {
            let key = input.get(at..at + 4)?;
            at += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        let end = at + len;
        let limit = self.max_frame_len.min(self.max_message_len);
        if end > input.len() || len as u64 > limit {
            return None;
        }
        self.examined += at as u64;
        let piece = DataPiece {
            range: at..end,
            kind,
            fin: true,
            compressed: false,
            mask,
            offset: 0,
        };
        Some((end, piece))
    }

    /// The streaming fast path (`Connection::recv_in_place` and `Decoder`),
    /// after [`whole_message`](Self::whole_message) found `piece`: the
    /// message unmasked and validated in place, as an event.
    #[inline]
    pub(crate) fn whole_event<'a>(
        &mut self,
        input: &'a mut [u8],
        (used, piece): (usize, DataPiece),
    ) -> Result<(usize, Option<StreamEvent<'a>>), ProtocolError> {
        let range = piece.range.clone();
        self.accept_whole(&mut input[range.clone()], &piece)?;
        let event = StreamEvent::Data {
            kind: piece.kind,
            payload: &input[range],
            fin: true,
        };
        Ok((used, Some(event)))
    }

    /// [`accept_data`](Self::accept_data) for a piece from
    /// [`whole_message`](Self::whole_message): a whole message, so no
    /// message state to keep; text is validated here, once.
    #[inline]
    pub(crate) fn accept_whole(
        &mut self,
        bytes: &mut [u8],
        piece: &DataPiece,
    ) -> Result<(), ProtocolError> {
        if let Some(key) = piece.mask {
            apply_mask(bytes, key, 0);
            self.examined += bytes.len() as u64;
        }
        if piece.kind == MessageKind::Text {
            self.examined += bytes.len() as u64;
            crate::utf8::validate(bytes).map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        Ok(())
    }

    /// Unmasks the bytes of `piece` (taken from the input, in place or
    /// copied) and validates them; completes the message on its last piece.
    pub(crate) fn accept_data(
        &mut self,
        bytes: &mut [u8],
        piece: &DataPiece,
    ) -> Result<(), ProtocolError> {
        if let Some(key) = piece.mask {
            apply_mask(bytes, key, u64::from(piece.offset));
            self.examined += bytes.len() as u64;
        }
        if piece.kind == MessageKind::Text && !piece.compressed {
            self.examined += bytes.len() as u64;
            match &mut self.message {
                Some(message) => {
                    let utf8 = &mut message.utf8;
                    utf8.feed(bytes).map_err(|_| ProtocolError::InvalidUtf8)?;
                    if piece.fin {
                        utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
                    }
                }
                // A whole message from the fast path, validated at once.
                None => crate::utf8::validate(bytes).map_err(|_| ProtocolError::InvalidUtf8)?,
            }
        }
        if piece.fin {
            self.message = None;
        }
        Ok(())
    }

    /// Where the decoder stands, for the message level's choice between
    /// taking the bytes at hand and waiting for a whole frame.
    #[cfg(feature = "alloc")]
    pub(crate) fn position(&self) -> Position {
        match &self.reading {
            Reading::Header { len: 0, .. } => Position::FrameStart,
            Reading::Payload(frame)
                if frame.fin
                    && matches!(frame.opcode, OpCode::Text | OpCode::Binary)
                    && self
                        .message
                        .as_ref()
                        .is_some_and(|message| !message.compressed) =>
            {
                // Bounded by the bytes the message level holds in memory.
                let decoded = (frame
                    .remaining
                    .abs_diff(self.message.as_ref().map_or(0, |m| m.len)))
                    as usize;
                Position::SingleFramePayload { decoded }
            }
            _ => Position::Elsewhere,
        }
    }

    /// Whether it stands between messages: no frame or message begun.
    #[cfg(feature = "alloc")]
    pub(crate) fn between_messages(&self) -> bool {
        matches!(self.reading, Reading::Header { len: 0, .. }) && self.message.is_none()
    }

    /// Payload bytes of the current frame still to come (0 between frames).
    #[cfg(feature = "alloc")]
    pub(crate) fn frame_remaining(&self) -> u64 {
        match &self.reading {
            Reading::Payload(frame) => frame.remaining,
            Reading::Header { .. } => 0,
        }
    }

    /// The kind of the data message in progress (binary when none is).
    pub(crate) fn message_kind(&self) -> MessageKind {
        self.message
            .as_ref()
            .map_or(MessageKind::Binary, |message| message.kind)
    }

    /// Reads header bytes; returns how many were used once the header is
    /// complete (and checked), or `None` if all input went into a partial
    /// header.
    fn read_header(&mut self, input: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let Reading::Header { bytes, len } = &mut self.reading else {
            // Only called between frames.
            return Ok(Some(0));
        };
        if *len == 0 {
            // Fast path: the whole header is in the caller's input.
            self.examined += input.len().min(MAX_HEADER_LEN) as u64;
            match FrameHeader::parse(input)? {
                ParsedHeader::Complete { header, len } => {
                    self.begin_frame(header)?;
                    return Ok(Some(len));
                }
                ParsedHeader::Incomplete { .. } => {
                    // Shorter than the header, so shorter than 14 bytes.
                    bytes[..input.len()].copy_from_slice(input);
                    *len = input.len() as u8;
                    return Ok(None);
                }
            }
        }
        let mut used = 0;
        loop {
            let have = usize::from(*len);
            self.examined += have as u64;
            match FrameHeader::parse(&bytes[..have])? {
                ParsedHeader::Complete { header, .. } => {
                    self.begin_frame(header)?;
                    return Ok(Some(used));
                }
                ParsedHeader::Incomplete { needed } => {
                    let take = (needed - have).min(input.len() - used);
                    if take == 0 {
                        return Ok(None);
                    }
                    bytes[have..have + take].copy_from_slice(&input[used..used + take]);
                    // At most 14 in all.
                    *len += take as u8;
                    used += take;
                }
            }
        }
    }

    /// Applies the rules that depend on role, extensions, the message in
    /// progress and the limits; then starts reading the payload.
    fn begin_frame(&mut self, header: FrameHeader) -> Result<(), ProtocolError> {
        // RSV1 marks a compressed message on its first frame only (RFC 7692
        // section 6.1): never on a control or continuation frame.
        let first_data_frame = matches!(header.opcode, OpCode::Text | OpCode::Binary);
        let allowed = if first_data_frame {
            self.extension_rsv
        } else {
            0
        };
        if header.rsv & !allowed != 0 {
            return Err(ProtocolError::ReservedBits(header.rsv));
        }
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if !header.opcode.is_control() {
            self.begin_data_frame(&header)?;
        }
        self.reading = Reading::Payload(Frame {
            opcode: header.opcode,
            fin: header.fin,
            mask: header.mask,
            remaining: header.payload_len,
            at: 0,
        });
        Ok(())
    }

    fn begin_data_frame(&mut self, header: &FrameHeader) -> Result<(), ProtocolError> {
        let len = header.payload_len;
        if len > self.max_frame_len {
            return Err(ProtocolError::FrameTooLong {
                len,
                max: self.max_frame_len,
            });
        }
        let kind = match header.opcode {
            OpCode::Text => Some(MessageKind::Text),
            OpCode::Binary => Some(MessageKind::Binary),
            _ => None,
        };
        let message = match (kind, &mut self.message) {
            (Some(_), Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (None, None) => return Err(ProtocolError::UnexpectedContinuation),
            (None, Some(message)) => message,
            (Some(kind), message @ None) => message.insert(Message {
                kind,
                compressed: header.rsv & RSV1 != 0,
                len: 0,
                utf8: Utf8Validator::default(),
            }),
        };
        let total = message.len.saturating_add(len);
        if total > self.max_message_len {
            return Err(ProtocolError::MessageTooLong {
                len: total,
                max: self.max_message_len,
            });
        }
        // What it announces is what it will hold (in place or gathered); a
        // compressed message is held to the allowance as it is inflated.
        if !message.compressed && total > self.allowance {
            return Err(ProtocolError::MessageOverAllowance {
                len: total,
                allowance: self.allowance,
            });
        }
        message.len = total;
        Ok(())
    }

    /// The configured [`Config::max_message_len`].
    #[cfg(feature = "alloc")]
    pub(crate) fn max_message_len(&self) -> u64 {
        self.max_message_len
    }

    /// Sets what the message being received may announce from now on.
    #[cfg(feature = "alloc")]
    pub(crate) fn set_allowance(&mut self, allowance: u64) {
        self.allowance = allowance;
    }

    /// The message being received, if any: the payload its frames have
    /// announced so far, and whether it is compressed.
    #[cfg(feature = "alloc")]
    pub(crate) fn announced(&self) -> Option<(u64, bool)> {
        self.message
            .as_ref()
            .map(|message| (message.len, message.compressed))
    }

    /// A frame whose header announced no payload is complete at once.
    fn empty_frame_step(&mut self, pos: usize) -> Result<Option<Step>, ProtocolError> {
        let Reading::Payload(frame) = &self.reading else {
            return Ok(None);
        };
        if frame.remaining != 0 {
            return Ok(None);
        }
        let (opcode, fin) = (frame.opcode, frame.fin);
        self.reading = Reading::BETWEEN_FRAMES;
        if opcode.is_control() {
            return Self::control_frame(opcode, &[]).map(|c| Some(Step::Control(c)));
        }
        // An empty middle fragment says nothing; an empty final one ends
        // the message (and may be all of it).
        let compressed = self.message.as_ref().is_some_and(|m| m.compressed);
        Ok(fin.then(|| {
            Step::Data(DataPiece {
                range: pos..pos,
                kind: self.message_kind(),
                fin: true,
                compressed,
                mask: None,
                offset: 0,
            })
        }))
    }

    /// Validates a complete control frame (the header parser capped its
    /// payload at 125 bytes).
    fn control_frame(opcode: OpCode, payload: &[u8]) -> Result<Control, ProtocolError> {
        let control = match opcode {
            OpCode::Close => Control::Close(CloseFrame::parse_payload(payload)?),
            OpCode::Ping => Control::Ping(ControlPayload::truncated(payload)),
            _ => Control::Pong(ControlPayload::truncated(payload)),
        };
        Ok(control)
    }
}

#[cfg(test)]
mod tests;
