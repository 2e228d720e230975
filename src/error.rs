//! Error types, and the one table from error to close code.

use crate::close::{CloseCode, ClosePayloadError};
use crate::entropy::EntropyError;
use crate::event::MessageKind;
use crate::frame::HeaderError;
use core::fmt;

/// The peer broke RFC 6455 or a configured limit, the transport ended
/// without a close frame, or a timer ran out.
///
/// Fatal and sticky: when the error is returned, the close frame carrying
/// [`close_code`](Self::close_code) is already queued for sending (except
/// for [`UnexpectedEof`](Self::UnexpectedEof), where nothing can be sent),
/// and every later receive call returns the same error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A server received a frame without a mask.
    UnmaskedFrame,
    /// A client received a masked frame.
    MaskedFrame,
    /// A reserved bit was set that no negotiated extension defines
    /// (`0b100` = RSV1, `0b010` = RSV2, `0b001` = RSV3).
    ReservedBits(u8),
    /// Opcode 3-7 or 0xB-0xF.
    ReservedOpcode(u8),
    /// A control frame with a payload over 125 bytes.
    ControlFrameTooLong,
    /// A control frame without FIN.
    FragmentedControlFrame,
    /// A continuation frame while no fragmented message was in progress.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message was in progress.
    ExpectedContinuation,
    /// A 64-bit payload length with the most significant bit set.
    LengthOverflow,
    /// A text message was not valid UTF-8.
    InvalidUtf8,
    /// A close frame with a one-byte payload.
    ClosePayloadTooShort,
    /// A close frame with a code that may not be sent (0-999, 1004-1006,
    /// 1015, 1016-2999, 5000 and up).
    InvalidCloseCode(u16),
    /// A close frame whose reason was not valid UTF-8.
    InvalidCloseReason,
    /// A frame announced more payload than [`Config::max_frame_len`](crate::Config::max_frame_len).
    FrameTooLong {
        /// The announced length.
        len: u64,
        /// The configured limit.
        max: u64,
    },
    /// A message grew past [`Config::max_message_len`](crate::Config::max_message_len),
    /// on the wire or, compressed, once inflated.
    MessageTooLong {
        /// The length the message would reach with the frame just announced
        /// (for an inflated message: the limit plus one, where inflating
        /// stopped).
        len: u64,
        /// The configured limit.
        max: u64,
    },
    /// A compressed message (permessage-deflate) was not valid DEFLATE
    /// data. A text message closes with 1007, as invalid UTF-8 would; a
    /// binary one with 1002, the extension's framing being broken.
    InvalidCompressedData(MessageKind),
    /// The transport ended before a close frame was received.
    UnexpectedEof,
    /// The closing handshake did not finish within
    /// [`Config::close_timeout`](crate::Config::close_timeout): the peer
    /// neither answered our close frame nor read it, or did not read our
    /// echo of its own. Nothing more is sent; drop the transport.
    CloseTimeout,
    /// A keepalive ping got no answer (no pong, no byte at all) within
    /// [`Config::keepalive_timeout`](crate::Config::keepalive_timeout).
    /// The peer or the path to it is presumed dead: nothing is sent, drop
    /// the transport.
    KeepaliveTimeout,
}

impl ProtocolError {
    /// The close code this error is answered with (the one table).
    /// [`UnexpectedEof`](Self::UnexpectedEof) maps to 1006, which is only
    /// reported locally, never sent.
    pub const fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8
            | ProtocolError::InvalidCloseReason
            | ProtocolError::InvalidCompressedData(MessageKind::Text) => CloseCode::INVALID_PAYLOAD,
            ProtocolError::FrameTooLong { .. } | ProtocolError::MessageTooLong { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            ProtocolError::UnexpectedEof
            | ProtocolError::CloseTimeout
            | ProtocolError::KeepaliveTimeout => CloseCode::ABNORMAL_CLOSURE,
            ProtocolError::UnmaskedFrame
            | ProtocolError::MaskedFrame
            | ProtocolError::ReservedBits(_)
            | ProtocolError::ReservedOpcode(_)
            | ProtocolError::ControlFrameTooLong
            | ProtocolError::FragmentedControlFrame
            | ProtocolError::UnexpectedContinuation
            | ProtocolError::ExpectedContinuation
            | ProtocolError::LengthOverflow
            | ProtocolError::ClosePayloadTooShort
            | ProtocolError::InvalidCloseCode(_)
            | ProtocolError::InvalidCompressedData(MessageKind::Binary) => {
                CloseCode::PROTOCOL_ERROR
            }
        }
    }

    /// A short reason for the close frame; fits in a control frame.
    pub(crate) const fn close_reason(&self) -> &'static str {
        match self {
            ProtocolError::UnmaskedFrame => "unmasked frame",
            ProtocolError::MaskedFrame => "masked frame",
            ProtocolError::ReservedBits(_) => "reserved bits set",
            ProtocolError::ReservedOpcode(_) => "reserved opcode",
            ProtocolError::ControlFrameTooLong => "control frame too long",
            ProtocolError::FragmentedControlFrame => "fragmented control frame",
            ProtocolError::UnexpectedContinuation => "unexpected continuation",
            ProtocolError::ExpectedContinuation => "expected continuation",
            ProtocolError::LengthOverflow => "invalid length",
            ProtocolError::InvalidUtf8 => "invalid utf-8",
            ProtocolError::ClosePayloadTooShort => "invalid close payload",
            ProtocolError::InvalidCloseCode(_) => "invalid close code",
            ProtocolError::InvalidCloseReason => "invalid close reason",
            ProtocolError::FrameTooLong { .. } => "frame too long",
            ProtocolError::MessageTooLong { .. } => "message too long",
            ProtocolError::InvalidCompressedData(_) => "invalid compressed data",
            ProtocolError::UnexpectedEof
            | ProtocolError::CloseTimeout
            | ProtocolError::KeepaliveTimeout => "",
        }
    }
}

impl From<HeaderError> for ProtocolError {
    fn from(error: HeaderError) -> Self {
        match error {
            HeaderError::ReservedOpcode(op) => ProtocolError::ReservedOpcode(op),
            HeaderError::FragmentedControlFrame => ProtocolError::FragmentedControlFrame,
            HeaderError::ControlFrameTooLong => ProtocolError::ControlFrameTooLong,
            HeaderError::LengthOverflow => ProtocolError::LengthOverflow,
        }
    }
}

impl From<ClosePayloadError> for ProtocolError {
    fn from(error: ClosePayloadError) -> Self {
        match error {
            ClosePayloadError::OneByte => ProtocolError::ClosePayloadTooShort,
            ClosePayloadError::InvalidCode(code) => ProtocolError::InvalidCloseCode(code),
            ClosePayloadError::InvalidUtf8 => ProtocolError::InvalidCloseReason,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedBits(bits) => write!(f, "reserved bits {bits:#05b} set"),
            ProtocolError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            ProtocolError::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
            ProtocolError::FrameTooLong { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max}")
            }
            ProtocolError::MessageTooLong { len, max } => {
                write!(f, "message of {len} bytes exceeds the limit of {max}")
            }
            ProtocolError::UnexpectedEof => f.write_str("transport closed without a close frame"),
            ProtocolError::CloseTimeout => f.write_str("the closing handshake timed out"),
            ProtocolError::KeepaliveTimeout => f.write_str("no answer to a keepalive ping"),
            other => f.write_str(other.close_reason()),
        }?;
        write!(f, " (close code {})", self.close_code())
    }
}

impl core::error::Error for ProtocolError {}

/// The application asked for something the connection cannot send.
/// Nothing was queued and the connection state is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// A close frame was already sent, or the connection failed or ended:
    /// RFC 6455 allows no data frame after a close, and this crate makes
    /// its close the last frame it sends (no pong or ping follows it).
    Closed,
    /// A ping or pong payload over 125 bytes (the length given).
    ControlPayloadTooLong(usize),
    /// A close reason over 123 bytes (the length given).
    CloseReasonTooLong(usize),
    /// A close code that may not appear on the wire (see
    /// [`CloseCode::is_sendable`]).
    UnsendableCloseCode(CloseCode),
    /// A fragmented message is being sent; finish it (a fragment with
    /// `fin = true`) before starting another one or a whole message.
    MessageInProgress,
    /// Text fragments did not form valid UTF-8.
    InvalidUtf8,
    /// The masking key could not be generated.
    Entropy(EntropyError),
    /// The compressor failed (permessage-deflate). zlib fails only on a
    /// corrupt state, so this is a bug; nothing was queued.
    Compression,
    /// More than [`Config::send_high_water`](crate::Config::send_high_water)
    /// bytes wait to be written: nothing was queued. Write out what is
    /// pending (the transport is slower than the application) and try
    /// again; [`Connection::wants_read`](crate::Connection::wants_read) is
    /// `false` until then.
    WouldBlock {
        /// [`Connection::buffered_amount`](crate::Connection::buffered_amount)
        /// when the send was refused.
        buffered: usize,
        /// The configured high-water mark.
        high_water: usize,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("the connection is closing or closed"),
            SendError::ControlPayloadTooLong(len) => {
                write!(f, "control payload of {len} bytes exceeds 125")
            }
            SendError::CloseReasonTooLong(len) => {
                write!(f, "close reason of {len} bytes exceeds 123")
            }
            SendError::UnsendableCloseCode(code) => write!(f, "close code {code} cannot be sent"),
            SendError::MessageInProgress => f.write_str("a fragmented message is in progress"),
            SendError::InvalidUtf8 => f.write_str("text fragments are not valid UTF-8"),
            SendError::Entropy(e) => write!(f, "{e}"),
            SendError::Compression => f.write_str("the compressor failed"),
            SendError::WouldBlock {
                buffered,
                high_water,
            } => write!(
                f,
                "{buffered} bytes wait to be written, over the high-water mark of {high_water}"
            ),
        }
    }
}

impl core::error::Error for SendError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            SendError::Entropy(e) => Some(e),
            _ => None,
        }
    }
}

impl From<EntropyError> for SendError {
    fn from(error: EntropyError) -> Self {
        SendError::Entropy(error)
    }
}

/// Any error of this crate, for callers who handle both directions in one
/// function and want a single `?`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// From the receive path: see [`ProtocolError`].
    Protocol(ProtocolError),
    /// From the send path: see [`SendError`].
    Send(SendError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Send(e) => write!(f, "send error: {e}"),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Protocol(e) => Some(e),
            Error::Send(e) => Some(e),
        }
    }
}

impl From<ProtocolError> for Error {
    fn from(error: ProtocolError) -> Self {
        Error::Protocol(error)
    }
}

impl From<SendError> for Error {
    fn from(error: SendError) -> Self {
        Error::Send(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant once, with its close code. The match has no wildcard,
    /// so a new variant does not compile until it is listed here.
    fn every_error() -> Vec<(ProtocolError, u16)> {
        use ProtocolError::*;
        let all = vec![
            (UnmaskedFrame, 1002),
            (MaskedFrame, 1002),
            (ReservedBits(0b100), 1002),
            (ReservedOpcode(3), 1002),
            (ControlFrameTooLong, 1002),
            (FragmentedControlFrame, 1002),
            (UnexpectedContinuation, 1002),
            (ExpectedContinuation, 1002),
            (LengthOverflow, 1002),
            (InvalidUtf8, 1007),
            (ClosePayloadTooShort, 1002),
            (InvalidCloseCode(1005), 1002),
            (InvalidCloseReason, 1007),
            (FrameTooLong { len: 2, max: 1 }, 1009),
            (MessageTooLong { len: 2, max: 1 }, 1009),
            (InvalidCompressedData(MessageKind::Text), 1007),
            (InvalidCompressedData(MessageKind::Binary), 1002),
            (UnexpectedEof, 1006),
            (CloseTimeout, 1006),
            (KeepaliveTimeout, 1006),
        ];
        for (error, _) in &all {
            match error {
                UnmaskedFrame
                | MaskedFrame
                | ReservedBits(_)
                | ReservedOpcode(_)
                | ControlFrameTooLong
                | FragmentedControlFrame
                | UnexpectedContinuation
                | ExpectedContinuation
                | LengthOverflow
                | InvalidUtf8
                | ClosePayloadTooShort
                | InvalidCloseCode(_)
                | InvalidCloseReason
                | FrameTooLong { .. }
                | MessageTooLong { .. }
                | InvalidCompressedData(_)
                | UnexpectedEof
                | CloseTimeout
                | KeepaliveTimeout => {}
            }
        }
        all
    }

    #[test]
    fn every_error_has_its_close_code_and_a_reason_that_fits() {
        for (error, code) in every_error() {
            assert_eq!(error.close_code(), CloseCode(code), "{error:?}");
            // Only 1006 is local-only; every other code goes on the wire.
            assert_eq!(error.close_code().is_sendable(), code != 1006, "{error:?}");
            assert!(error.close_reason().len() <= crate::MAX_CLOSE_REASON_LEN);
            assert!(error.to_string().ends_with(&format!("(close code {code})")));
        }
    }
}
