//! Reads back the frames a connection transmitted, to check what it
//! answered (pongs, close echo, failure close).

use wsproto::frame::{FrameHeader, OpCode, ParsedHeader, apply_mask};
use wsproto::{CloseCode, ConnectionError, Role};

/// A frame we expect a connection to have sent in reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Pong(Vec<u8>),
    /// A close frame with this code (`None`: empty payload). The reason of
    /// a failure close is not compared.
    Close(Option<u16>),
}

impl Reply {
    /// The close a connection sends when `error` fails it, if any.
    pub fn failure(error: ConnectionError) -> Option<Reply> {
        error
            .wire_close_code()
            .map(|code| Reply::Close(Some(code.0)))
    }

    /// The echo of a received close with `code`.
    pub fn echo(code: CloseCode) -> Reply {
        if code == CloseCode::NO_STATUS_RECEIVED {
            Reply::Close(None)
        } else {
            Reply::Close(Some(code.0))
        }
    }
}

/// Parses `bytes` sent by a connection in `role` into replies. Panics if
/// the bytes are not whole, well-formed frames masked as the role requires,
/// or are not pongs and closes.
pub fn replies(role: Role, mut bytes: &[u8]) -> Vec<Reply> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (header, len) = match FrameHeader::parse(bytes) {
            Ok(ParsedHeader::Complete { header, len }) => (header, len),
            other => panic!("sent bytes are not a whole frame: {other:?}"),
        };
        assert_eq!(
            header.mask.is_some(),
            role == Role::Client,
            "a {role:?} sent a frame masked wrongly"
        );
        assert!(header.fin && header.rsv == 0, "reply frame {header:?}");
        let payload_len = usize::try_from(header.payload_len).expect("small frame");
        let end = len + payload_len;
        assert!(end <= bytes.len(), "sent a truncated frame");
        let mut payload = bytes[len..end].to_vec();
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        out.push(match header.opcode {
            OpCode::Pong => Reply::Pong(payload),
            OpCode::Close => match payload.as_slice() {
                [] => Reply::Close(None),
                [hi, lo, ..] => Reply::Close(Some(u16::from_be_bytes([*hi, *lo]))),
                [_] => panic!("sent a one-byte close payload"),
            },
            other => panic!("sent a {other:?} frame in reply"),
        });
        bytes = &bytes[end..];
    }
    out
}
