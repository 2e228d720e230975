//! The receive levels, as types: a [`Connection`](super::Connection)'s
//! level is part of its type, so the calls of two levels cannot be mixed on
//! one connection (each level keeps its own partial message, and mixing
//! them once lost messages without a word).

/// A receive level of [`Connection`](super::Connection): [`Messages`] or
/// [`Streaming`]. Sealed: the crate defines both.
pub trait ReceiveLevel: sealed::Sealed {}

/// The message level, the default: whole messages, owned by the caller
/// ([`Event`](crate::Event)), from [`Connection::recv`](super::Connection::recv)
/// and [`poll_event`](super::Connection::poll_event), or from
/// [`poll_event_from`](super::Connection::poll_event_from).
#[derive(Debug)]
pub enum Messages {}

/// The streaming level: payload handed out as it arrives, unmasked in the
/// caller's buffer, in constant memory whatever the message size
/// ([`Connection::recv_in_place`](super::Connection::recv_in_place),
/// [`recv_bytes`](super::Connection::recv_bytes)). Made by
/// [`Connection::into_streaming`](super::Connection::into_streaming).
#[derive(Debug)]
pub enum Streaming {}

impl ReceiveLevel for Messages {}
impl ReceiveLevel for Streaming {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Messages {}
    impl Sealed for super::Streaming {}
}
