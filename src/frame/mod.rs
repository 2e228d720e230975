//! Wire-level building blocks: opcodes, frame headers and masking.
//!
//! [`Connection`](crate::Connection) uses these internally; they are public
//! for tools that work on raw frames (proxies, benches, test generators).

mod header;
mod mask;
mod opcode;

pub use header::{FrameHeader, HeaderError, MAX_HEADER_LEN, ParsedHeader};
pub use mask::apply_mask;
pub use opcode::OpCode;
