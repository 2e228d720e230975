//! Frame opcodes (RFC 6455 section 5.2).

/// A frame opcode. The reserved values (3-7, 0xB-0xF) have no variant: a
/// header carrying one fails to parse with
/// [`HeaderError::ReservedOpcode`](super::HeaderError::ReservedOpcode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: a further fragment of the current message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: a close frame.
    Close,
    /// 0x9: a ping.
    Ping,
    /// 0xA: a pong.
    Pong,
}

impl OpCode {
    /// The opcode for the low four bits `value`, or `None` if it is reserved.
    pub const fn from_bits(value: u8) -> Option<OpCode> {
        match value {
            0x0 => Some(OpCode::Continuation),
            0x1 => Some(OpCode::Text),
            0x2 => Some(OpCode::Binary),
            0x8 => Some(OpCode::Close),
            0x9 => Some(OpCode::Ping),
            0xA => Some(OpCode::Pong),
            _ => None,
        }
    }

    /// The four-bit wire value.
    pub const fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Whether this is a control opcode (close, ping, pong).
    pub const fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::OpCode;

    #[test]
    fn bits_round_trip_and_reserved_values_are_refused() {
        for value in 0..16u8 {
            match OpCode::from_bits(value) {
                Some(op) => {
                    assert_eq!(op.bits(), value);
                    assert_eq!(op.is_control(), value >= 8);
                }
                None => assert!(matches!(value, 3..=7 | 0xB..=0xF), "{value}"),
            }
        }
    }
}
