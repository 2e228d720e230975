//! Frame header decode and encode (RFC 6455 section 5.2).

use super::OpCode;
use core::fmt;

/// The longest possible header: 2 fixed bytes, an 8-byte length, a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Whether this is the final frame of its message.
    pub fin: bool,
    /// The three reserved bits, RSV1 as `0b100`, RSV2 as `0b010`, RSV3 as `0b001`.
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on every frame a client sends.
    pub mask: Option<[u8; 4]>,
    /// The payload length announced by the header.
    pub payload_len: u64,
}

/// The outcome of [`FrameHeader::parse`] on a buffer that may hold only part
/// of a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParsedHeader {
    /// The header is not complete; it is at least `needed` bytes long.
    Incomplete {
        /// The header length known so far (2 until the second byte is seen).
        needed: usize,
    },
    /// A complete header that took `len` bytes.
    Complete {
        /// The decoded header.
        header: FrameHeader,
        /// How many bytes of the buffer the header occupied.
        len: usize,
    },
}

/// A header that breaks RFC 6455 whatever the connection's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Opcode 3-7 or 0xB-0xF.
    ReservedOpcode(u8),
    /// A control frame without FIN.
    FragmentedControlFrame,
    /// A control frame announcing more than 125 bytes.
    ControlFrameTooLong,
    /// A 64-bit length with its most significant bit set.
    LengthOverflow,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            HeaderError::FragmentedControlFrame => f.write_str("fragmented control frame"),
            HeaderError::ControlFrameTooLong => f.write_str("control frame longer than 125 bytes"),
            HeaderError::LengthOverflow => {
                f.write_str("64-bit payload length with the most significant bit set")
            }
        }
    }
}

impl FrameHeader {
    /// Decodes a header from the start of `buf`.
    ///
    /// Fails as early as the bytes allow: a reserved opcode or an unfinished
    /// control frame is refused from the first byte, an oversized control
    /// frame once its length is known. Non-minimal length encodings are
    /// accepted (RFC 6455 binds senders only).
    pub fn parse(buf: &[u8]) -> Result<ParsedHeader, HeaderError> {
        let Some(&first) = buf.first() else {
            return Ok(ParsedHeader::Incomplete { needed: 2 });
        };
        let fin = first & 0x80 != 0;
        let opcode =
            OpCode::from_bits(first & 0x0f).ok_or(HeaderError::ReservedOpcode(first & 0x0f))?;
        if opcode.is_control() && !fin {
            return Err(HeaderError::FragmentedControlFrame);
        }
        let Some(&second) = buf.get(1) else {
            return Ok(ParsedHeader::Incomplete { needed: 2 });
        };
        let masked = second & 0x80 != 0;
        let len7 = second & 0x7f;
        let len_bytes = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let needed = 2 + len_bytes + if masked { 4 } else { 0 };
        // The length is checked as soon as it is known, before the mask.
        if buf.len() < 2 + len_bytes {
            return Ok(ParsedHeader::Incomplete { needed });
        }
        let payload_len = match len7 {
            126 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
            127 => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&buf[2..10]);
                let len = u64::from_be_bytes(bytes);
                if len >> 63 != 0 {
                    return Err(HeaderError::LengthOverflow);
                }
                len
            }
            short => u64::from(short),
        };
        // The decoded length counts, not the encoding: a 16-bit length of 5
        // is a non-minimal but valid encoding (RFC 6455 binds senders only).
        if opcode.is_control() && payload_len > 125 {
            return Err(HeaderError::ControlFrameTooLong);
        }
        if buf.len() < needed {
            return Ok(ParsedHeader::Incomplete { needed });
        }
        let mask = masked.then(|| {
            let at = 2 + len_bytes;
            [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]
        });
        Ok(ParsedHeader::Complete {
            header: FrameHeader {
                fin,
                rsv: (first >> 4) & 0b111,
                opcode,
                mask,
                payload_len,
            },
            len: needed,
        })
    }

    /// Encodes the header into `out` with the minimal length encoding and
    /// returns how many bytes it took (2 to 14).
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0b111) << 4) | self.opcode.bits();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut len = 2;
        if self.payload_len < 126 {
            out[1] = mask_bit | self.payload_len as u8;
        } else if let Ok(short) = u16::try_from(self.payload_len) {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&short.to_be_bytes());
            len = 4;
        } else {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&self.payload_len.to_be_bytes());
            len = 10;
        }
        if let Some(key) = self.mask {
            out[len..len + 4].copy_from_slice(&key);
            len += 4;
        }
        len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(opcode: OpCode, len: u64, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask,
            payload_len: len,
        }
    }

    #[test]
    fn encoding_is_minimal_and_parses_back() {
        let cases = [
            (0, 2),
            (125, 2),
            (126, 4),
            (65535, 4),
            (65536, 10),
            (1 << 40, 10),
        ];
        for (len, header_len) in cases {
            for mask in [None, Some([9, 8, 7, 6])] {
                let h = header(OpCode::Binary, len, mask);
                let mut out = [0; MAX_HEADER_LEN];
                let n = h.encode(&mut out);
                assert_eq!(n, header_len + if mask.is_some() { 4 } else { 0 });
                assert_eq!(
                    FrameHeader::parse(&out[..n]),
                    Ok(ParsedHeader::Complete { header: h, len: n })
                );
                // Every strict prefix is incomplete, never an error.
                for cut in 0..n {
                    assert!(matches!(
                        FrameHeader::parse(&out[..cut]),
                        Ok(ParsedHeader::Incomplete { .. })
                    ));
                }
            }
        }
    }

    #[test]
    fn non_minimal_lengths_are_accepted() {
        let buf = [0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5];
        let Ok(ParsedHeader::Complete { header, len }) = FrameHeader::parse(&buf) else {
            panic!("expected a complete header");
        };
        assert_eq!((header.payload_len, len), (5, 10));
    }

    #[test]
    fn structural_errors_fail_as_early_as_possible() {
        assert_eq!(
            FrameHeader::parse(&[0x83]),
            Err(HeaderError::ReservedOpcode(3))
        );
        assert_eq!(
            FrameHeader::parse(&[0x09]),
            Err(HeaderError::FragmentedControlFrame)
        );
        assert_eq!(
            FrameHeader::parse(&[0x89, 126, 0, 126]),
            Err(HeaderError::ControlFrameTooLong)
        );
        // A non-minimal encoding of a short control payload is fine.
        assert!(matches!(
            FrameHeader::parse(&[0x89, 126, 0, 125]),
            Ok(ParsedHeader::Complete { .. })
        ));
        assert_eq!(
            FrameHeader::parse(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(HeaderError::LengthOverflow)
        );
    }
}
