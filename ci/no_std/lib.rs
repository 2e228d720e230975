//! Uses the `core`-only API (and, with `alloc`, the connection) from a
//! `#![no_std]` crate with its own panic handler: see Cargo.toml.

#![no_std]
#![forbid(unsafe_code)]

use core::panic::PanicInfo;
use wsproto::{Config, Decoder, ProtocolError, Role, StreamEvent};

/// Decodes one frame and reports its payload length.
pub fn first_payload_len(input: &mut [u8]) -> Result<Option<usize>, ProtocolError> {
    let mut decoder = Decoder::new(Role::Server, &Config::default());
    let (_, event) = decoder.decode(input)?;
    Ok(match event {
        Some(StreamEvent::Data { payload, .. }) => Some(payload.len()),
        _ => None,
    })
}

/// With `alloc`: a connection queues a reply.
#[cfg(feature = "alloc")]
pub fn pong_len(input: &mut [u8]) -> usize {
    let mut conn = wsproto::Connection::new(Role::Server, Config::default());
    let _ = conn.recv_in_place(input);
    conn.buffered_amount()
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}
