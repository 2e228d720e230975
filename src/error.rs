//! Error types, and the one table from error to close code.

use crate::close::{CloseCode, ClosePayloadError};
use crate::entropy::EntropyError;
use crate::event::MessageKind;
use crate::frame::HeaderError;
use core::fmt;

/// The peer broke RFC 6455 or a configured limit.
///
/// Fatal and sticky: when the error is returned (as
/// [`ConnectionError::Protocol`] by a connection), the close frame carrying
/// [`close_code`](Self::close_code) is already queued for sending, and
/// every later receive call returns the same error.
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
    /// A message would hold more than the driver allowed it for now
    /// ([`Connection::set_receive_allowance`](crate::Connection::set_receive_allowance),
    /// which a memory budget shared between connections sets), though not
    /// more than [`Config::max_message_len`](crate::Config::max_message_len).
    /// Closed with 1013, try again later: the message may fit another time.
    MessageOverAllowance {
        /// The length the message would reach: announced on the wire, or
        /// inflated (then the allowance plus one, where inflating stopped).
        len: u64,
        /// The allowance it met.
        allowance: u64,
    },
}

impl ProtocolError {
    /// The close code this error is answered with (the one table); always
    /// one that may be sent.
    pub const fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8
            | ProtocolError::InvalidCloseReason
            | ProtocolError::InvalidCompressedData(MessageKind::Text) => CloseCode::INVALID_PAYLOAD,
            ProtocolError::FrameTooLong { .. } | ProtocolError::MessageTooLong { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            ProtocolError::MessageOverAllowance { .. } => CloseCode::TRY_AGAIN_LATER,
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
            ProtocolError::MessageOverAllowance { .. } => {
                "over the memory allowed, try again later"
            }
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
            ProtocolError::MessageOverAllowance { len, allowance } => {
                write!(
                    f,
                    "message of {len} bytes exceeds the {allowance} bytes allowed for now"
                )
            }
            other => f.write_str(other.close_reason()),
        }?;
        write!(f, " (close code {})", self.close_code())
    }
}

impl core::error::Error for ProtocolError {}

/// Why a connection ended without a clean closing handshake: what its
/// receive calls return, sticky once returned.
///
/// Only [`Protocol`](Self::Protocol) is the peer's fault and answered on
/// the wire; the others are endings that send nothing.
/// [`wire_close_code`](Self::wire_close_code) says which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The peer broke RFC 6455 or a configured limit: the close frame
    /// with the error's code is already queued (write it out, then close
    /// the transport).
    Protocol(ProtocolError),
    /// The transport ended ([`recv_eof`](crate::Connection::recv_eof))
    /// before a close frame was received: an abnormal closure (1006),
    /// reported after every event received before it.
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

impl ConnectionError {
    /// The close code that went on the wire for this error (queued when
    /// the error was returned), or `None` when nothing is sent: the
    /// transport ended, or a timer gave up on the peer.
    ///
    /// ```
    /// use wsproto::{CloseCode, ConnectionError, ProtocolError};
    ///
    /// let violation = ConnectionError::from(ProtocolError::InvalidUtf8);
    /// assert_eq!(violation.wire_close_code(), Some(CloseCode::INVALID_PAYLOAD));
    /// assert_eq!(ConnectionError::UnexpectedEof.wire_close_code(), None);
    /// ```
    pub const fn wire_close_code(&self) -> Option<CloseCode> {
        match self {
            ConnectionError::Protocol(error) => Some(error.close_code()),
            ConnectionError::UnexpectedEof
            | ConnectionError::CloseTimeout
            | ConnectionError::KeepaliveTimeout => None,
        }
    }

    /// The close code to report to the application (as a browser's
    /// `CloseEvent.code` does): the one sent for a protocol error, 1006
    /// ([`CloseCode::ABNORMAL_CLOSURE`], never sent) for the others.
    pub const fn close_code(&self) -> CloseCode {
        match self.wire_close_code() {
            Some(code) => code,
            None => CloseCode::ABNORMAL_CLOSURE,
        }
    }

    /// The protocol violation, if that is what it was.
    pub const fn protocol_error(&self) -> Option<ProtocolError> {
        match self {
            ConnectionError::Protocol(error) => Some(*error),
            _ => None,
        }
    }
}

impl From<ProtocolError> for ConnectionError {
    fn from(error: ProtocolError) -> Self {
        ConnectionError::Protocol(error)
    }
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionError::Protocol(error) => return write!(f, "{error}"),
            ConnectionError::UnexpectedEof => f.write_str("transport closed without a close frame"),
            ConnectionError::CloseTimeout => f.write_str("the closing handshake timed out"),
            ConnectionError::KeepaliveTimeout => f.write_str("no answer to a keepalive ping"),
        }?;
        write!(f, " (close code {}, not sent)", self.close_code())
    }
}

impl core::error::Error for ConnectionError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            ConnectionError::Protocol(error) => Some(error),
            _ => None,
        }
    }
}

/// Why a send queued nothing. Nothing was queued and the connection
/// state is unchanged, whatever the kind:
///
/// - **Flow control**: [`WouldBlock`](Self::WouldBlock): write out what is
///   pending and try again.
/// - **The connection's end**: [`Closed`](Self::Closed): stop sending.
/// - **Misuse**: [`Misuse`](Self::Misuse): the call itself was wrong (a
///   bug in the caller); retrying the same call fails the same way.
/// - **A failure of this endpoint**: [`Entropy`](Self::Entropy),
///   [`Compression`](Self::Compression).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
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
    /// A close frame was already sent, or the connection failed or ended:
    /// RFC 6455 allows no data frame after a close, and this crate makes
    /// its close the last frame it sends (no pong or ping follows it).
    Closed,
    /// The call was wrong whatever the connection's state: see [`Misuse`].
    Misuse(Misuse),
    /// The masking key could not be generated.
    Entropy(EntropyError),
    /// The compressor failed (permessage-deflate). zlib fails only on a
    /// corrupt state, so this is a bug; nothing was queued.
    Compression,
}

impl SendError {
    /// Whether the send may succeed later as it is: only
    /// [`WouldBlock`](Self::WouldBlock), once pending bytes are written.
    pub const fn is_would_block(&self) -> bool {
        matches!(self, SendError::WouldBlock { .. })
    }
}

/// A send the caller got wrong: the arguments, or the order of calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misuse {
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
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misuse::ControlPayloadTooLong(len) => {
                write!(f, "control payload of {len} bytes exceeds 125")
            }
            Misuse::CloseReasonTooLong(len) => {
                write!(f, "close reason of {len} bytes exceeds 123")
            }
            Misuse::UnsendableCloseCode(code) => write!(f, "close code {code} cannot be sent"),
            Misuse::MessageInProgress => f.write_str("a fragmented message is in progress"),
            Misuse::InvalidUtf8 => f.write_str("text fragments are not valid UTF-8"),
        }
    }
}

impl core::error::Error for Misuse {}

impl From<Misuse> for SendError {
    fn from(misuse: Misuse) -> Self {
        SendError::Misuse(misuse)
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::WouldBlock {
                buffered,
                high_water,
            } => write!(
                f,
                "{buffered} bytes wait to be written, over the high-water mark of {high_water}"
            ),
            SendError::Closed => f.write_str("the connection is closing or closed"),
            SendError::Misuse(misuse) => write!(f, "{misuse}"),
            SendError::Entropy(e) => write!(f, "{e}"),
            SendError::Compression => f.write_str("the compressor failed"),
        }
    }
}

impl core::error::Error for SendError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            SendError::Entropy(e) => Some(e),
            SendError::Misuse(misuse) => Some(misuse),
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
    /// From the receive path: see [`ConnectionError`].
    Connection(ConnectionError),
    /// From the send path: see [`SendError`].
    Send(SendError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connection(e) => write!(f, "connection error: {e}"),
            Error::Send(e) => write!(f, "send error: {e}"),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Error::Connection(e) => Some(e),
            Error::Send(e) => Some(e),
        }
    }
}

impl From<ConnectionError> for Error {
    fn from(error: ConnectionError) -> Self {
        Error::Connection(error)
    }
}

impl From<ProtocolError> for Error {
    fn from(error: ProtocolError) -> Self {
        Error::Connection(ConnectionError::Protocol(error))
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
            (
                MessageOverAllowance {
                    len: 2,
                    allowance: 1,
                },
                1013,
            ),
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
                | MessageOverAllowance { .. } => {}
            }
        }
        all
    }

    #[test]
    fn every_error_has_its_close_code_and_a_reason_that_fits() {
        for (error, code) in every_error() {
            assert_eq!(error.close_code(), CloseCode(code), "{error:?}");
            // Every protocol error is answered on the wire.
            assert!(error.close_code().is_sendable(), "{error:?}");
            assert!(error.close_reason().len() <= crate::MAX_CLOSE_REASON_LEN);
            assert!(error.to_string().ends_with(&format!("(close code {code})")));
            let ending = ConnectionError::from(error);
            assert_eq!(ending.wire_close_code(), Some(CloseCode(code)));
            assert_eq!(ending.close_code(), CloseCode(code));
            assert_eq!(ending.protocol_error(), Some(error));
        }
    }

    #[test]
    fn endings_send_nothing_and_report_1006() {
        for ending in [
            ConnectionError::UnexpectedEof,
            ConnectionError::CloseTimeout,
            ConnectionError::KeepaliveTimeout,
        ] {
            assert_eq!(ending.wire_close_code(), None, "{ending:?}");
            assert_eq!(ending.close_code(), CloseCode::ABNORMAL_CLOSURE);
            assert_eq!(ending.protocol_error(), None);
            assert!(ending.to_string().ends_with("(close code 1006, not sent)"));
        }
    }
}
