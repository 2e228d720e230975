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

/// With `alloc`: a connection at the streaming level queues a reply.
#[cfg(feature = "alloc")]
pub fn pong_len(input: &mut [u8]) -> usize {
    let mut conn = wsproto::Connection::new(Role::Server, Config::default()).into_streaming();
    let _ = conn.recv_in_place(input);
    conn.buffered_amount()
}

/// With `alloc`: the message level, whose messages are `bytes::Bytes`
/// (a dependency of `alloc`, so it must build without std too), split off
/// the caller's read buffer.
#[cfg(feature = "alloc")]
pub fn first_message_len(buf: &mut wsproto::bytes::BytesMut) -> Option<usize> {
    let mut conn = wsproto::Connection::new(Role::Server, Config::default());
    match conn.poll_event_from(buf) {
        Ok(Some(wsproto::Event::Text(text))) => Some(text.as_str().len()),
        Ok(Some(wsproto::Event::Binary(data))) => Some(data.len()),
        _ => None,
    }
}

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}
