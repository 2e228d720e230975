//! placeholder
#![forbid(unsafe_code)]
mod close;
mod config;
mod connection;
mod entropy;
mod error;
mod event;
pub mod frame;
mod recv;
mod send;
mod utf8;

pub use close::{CloseCode, CloseFrame, MAX_CLOSE_REASON_LEN};
pub use config::{Config, Role};
pub use connection::{Connection, Initiator, State};
pub use entropy::{EntropyError, EntropySource, OsEntropy};
pub use error::{Error, ProtocolError, SendError};
pub use event::{ControlPayload, Event, MAX_CONTROL_PAYLOAD, MessageKind, StreamEvent};
