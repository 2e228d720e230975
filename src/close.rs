//! Close codes (RFC 6455 section 7.4) and the payload of a close frame.

use core::fmt;

/// A close status code: an open newtype over the wire value, with constants
/// for the codes RFC 6455 and the IANA registry define.
///
/// Any `u16` can be held; [`CloseCode::is_sendable`] says whether it may
/// appear in a close frame on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: the endpoint cannot accept this kind of data (e.g. binary).
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: reported locally when a close frame carried no code; never sent.
    pub const NO_STATUS_RECEIVED: CloseCode = CloseCode(1005);
    /// 1006: reported locally when the transport ended without a close frame; never sent.
    pub const ABNORMAL_CLOSURE: CloseCode = CloseCode(1006);
    /// 1007: a text message (or close reason) was not valid UTF-8.
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a frame or message was larger than the endpoint accepts.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected the server to negotiate an extension.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway received an invalid response upstream (IANA registry).
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: reported locally when the TLS handshake failed; never sent.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether this code may be carried by a close frame on the wire.
    ///
    /// Allowed: 1000-1003, 1007-1014 (defined by RFC 6455 and the IANA
    /// registry), 3000-3999 (registered by libraries and frameworks) and
    /// 4000-4999 (private use). Everything else, including the local-only
    /// codes 1005, 1006 and 1015, is rejected with 1002 when received and
    /// refused when the application tries to send it.
    pub const fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The longest close reason, in bytes: a control payload holds at most 125
/// bytes, two of which are the code.
pub const MAX_CLOSE_REASON_LEN: usize = 123;

/// A close frame's content: the code and the UTF-8 reason.
///
/// Stored inline (no allocation), so it serves both the message level and the
/// streaming level. A received close frame without a payload is reported with
/// [`CloseCode::NO_STATUS_RECEIVED`] and an empty reason.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CloseFrame {
    code: CloseCode,
    reason_len: u8,
    reason: [u8; MAX_CLOSE_REASON_LEN],
}

impl CloseFrame {
    /// A close frame with `code` and `reason`, or `None` if the reason is
    /// longer than [`MAX_CLOSE_REASON_LEN`] bytes.
    pub fn new(code: CloseCode, reason: &str) -> Option<Self> {
        let bytes = reason.as_bytes();
        if bytes.len() > MAX_CLOSE_REASON_LEN {
            return None;
        }
        let mut frame = CloseFrame {
            code,
            reason_len: bytes.len() as u8,
            reason: [0; MAX_CLOSE_REASON_LEN],
        };
        frame.reason[..bytes.len()].copy_from_slice(bytes);
        Some(frame)
    }

    /// A close frame with `code` and no reason.
    pub(crate) fn code_only(code: CloseCode) -> Self {
        CloseFrame {
            code,
            reason_len: 0,
            reason: [0; MAX_CLOSE_REASON_LEN],
        }
    }

    /// The close code (1005 if the frame carried none).
    pub fn code(&self) -> CloseCode {
        self.code
    }

    /// The reason text; empty if there was none.
    pub fn reason(&self) -> &str {
        // Reasons are validated before a CloseFrame is built, so this never
        // falls back; the fallback keeps input-dependent paths free of unwrap.
        core::str::from_utf8(&self.reason[..usize::from(self.reason_len)]).unwrap_or("")
    }

    /// Whether the frame had no payload at all (no code, no reason).
    pub fn is_empty(&self) -> bool {
        self.code == CloseCode::NO_STATUS_RECEIVED
    }

    /// Writes the wire payload (code + reason, or nothing) into `out` and
    /// returns its length: for building a close frame without a
    /// [`Connection`](crate::Connection), as a [`Decoder`](crate::Decoder)
    /// user does.
    ///
    /// ```
    /// use wsproto::{CloseCode, CloseFrame};
    ///
    /// let mut payload = [0u8; 125];
    /// let frame = CloseFrame::new(CloseCode::NORMAL, "bye").expect("short reason");
    /// let len = frame.encode_payload(&mut payload);
    /// assert_eq!(&payload[..len], b"\x03\xe8bye");
    /// ```
    pub fn encode_payload(&self, out: &mut [u8; 125]) -> usize {
        if self.is_empty() {
            return 0;
        }
        out[..2].copy_from_slice(&self.code.0.to_be_bytes());
        let len = usize::from(self.reason_len);
        out[2..2 + len].copy_from_slice(&self.reason[..len]);
        2 + len
    }

    /// Parses a received close payload (already unmasked), checking the rules
    /// of RFC 6455 section 5.5.1 and 7.4.
    pub(crate) fn parse_payload(payload: &[u8]) -> Result<Self, ClosePayloadError> {
        match payload {
            [] => Ok(CloseFrame::code_only(CloseCode::NO_STATUS_RECEIVED)),
            [_] => Err(ClosePayloadError::OneByte),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_sendable() {
                    return Err(ClosePayloadError::InvalidCode(code.0));
                }
                let text =
                    core::str::from_utf8(reason).map_err(|_| ClosePayloadError::InvalidUtf8)?;
                // The header check caps control payloads at 125 bytes, so the
                // reason always fits; None cannot happen but is still an error.
                CloseFrame::new(code, text).ok_or(ClosePayloadError::OneByte)
            }
        }
    }
}

impl fmt::Debug for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloseFrame")
            .field("code", &self.code)
            .field("reason", &self.reason())
            .finish()
    }
}

/// Why a received close payload was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClosePayloadError {
    OneByte,
    InvalidCode(u16),
    InvalidUtf8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendable_codes_follow_the_registry() {
        for code in [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999] {
            assert!(CloseCode(code).is_sendable(), "{code}");
        }
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert!(!CloseCode(code).is_sendable(), "{code}");
        }
    }

    #[test]
    fn payload_round_trip() {
        let frame = CloseFrame::new(CloseCode::GOING_AWAY, "bye ✓").unwrap();
        let mut buf = [0; 125];
        let len = frame.encode_payload(&mut buf);
        assert_eq!(&buf[..2], &[0x03, 0xe9]);
        assert_eq!(CloseFrame::parse_payload(&buf[..len]), Ok(frame));
    }

    #[test]
    fn parse_rejects_bad_payloads() {
        assert_eq!(
            CloseFrame::parse_payload(&[3]),
            Err(ClosePayloadError::OneByte)
        );
        assert_eq!(
            CloseFrame::parse_payload(&[0x03, 0xed]),
            Err(ClosePayloadError::InvalidCode(1005))
        );
        assert_eq!(
            CloseFrame::parse_payload(&[0x03, 0xe8, 0xff]),
            Err(ClosePayloadError::InvalidUtf8)
        );
        let empty = CloseFrame::parse_payload(&[]).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.code(), CloseCode::NO_STATUS_RECEIVED);
    }

    #[test]
    fn reason_length_is_capped() {
        assert!(CloseFrame::new(CloseCode::NORMAL, &"a".repeat(123)).is_some());
        assert!(CloseFrame::new(CloseCode::NORMAL, &"a".repeat(124)).is_none());
    }
}
