//! What a [`WebSocket`](crate::WebSocket) sends and receives.

use bytes::Bytes;
use wsproto::{CloseCode, CloseFrame, Control, Event, MAX_CLOSE_REASON_LEN, Utf8Bytes};

/// One WebSocket message, whole: what [`recv`](crate::WebSocket::recv)
/// hands out and [`send`](crate::WebSocket::send) takes.
///
/// Received text and binary messages own their bytes (a message that
/// arrived in one frame shares the memory it was read into, without a
/// copy); sending one back takes it as it is, and from 4 KiB writes it from
/// its own memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message, valid UTF-8 (validated once, as it arrived).
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping (at most 125 bytes). A received one is answered by the
    /// connection itself, before `recv` returns it.
    Ping(Bytes),
    /// A pong (at most 125 bytes). Sending one unasked is a heartbeat
    /// that needs no answer.
    Pong(Bytes),
    /// A close frame: the peer's, received (after it no message follows,
    /// and the echo is already on its way); or ours, sent with
    /// [`send`](crate::WebSocket::send) to start the closing handshake
    /// (`None`: code 1000). See [`WebSocket::close`](crate::WebSocket::close).
    ///
    /// Boxed: a [`CloseFrame`] holds its reason inline (up to 123 bytes),
    /// and every `Message` would be as large as the largest variant, 128
    /// bytes instead of 40, moved that way through every `recv` and `send`
    /// (about 5% of an echo server's own instructions per small message).
    /// A close is rare; its box costs nothing that matters.
    Close(Option<Box<CloseFrame>>),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Message::Text(text.into())
    }

    /// A binary message.
    pub fn binary(bytes: impl Into<Bytes>) -> Self {
        Message::Binary(bytes.into())
    }

    /// A close frame with `code` and `reason`; a reason over 123 bytes
    /// (what fits in a control frame) is cut at the last character
    /// boundary that fits.
    pub fn close(code: CloseCode, reason: &str) -> Self {
        let mut end = reason.len().min(MAX_CLOSE_REASON_LEN);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        Message::Close(CloseFrame::new(code, &reason[..end]).map(Box::new))
    }

    /// The payload's bytes (a close frame's reason for `Close`).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(bytes) | Message::Ping(bytes) | Message::Pong(bytes) => bytes,
            Message::Close(frame) => frame.as_ref().map_or(&[][..], |f| f.reason().as_bytes()),
        }
    }

    /// The text of a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(text) => Some(text),
            _ => None,
        }
    }

    /// Whether this is a text or binary message (not a control frame).
    pub fn is_data(&self) -> bool {
        matches!(self, Message::Text(_) | Message::Binary(_))
    }
}

impl From<Event> for Message {
    fn from(event: Event) -> Self {
        match event {
            Event::Text(text) => Message::Text(text),
            Event::Binary(bytes) => Message::Binary(bytes),
            Event::Control(control) => control.into(),
            // `Event` is non-exhaustive; every variant it has is above.
            #[allow(unreachable_patterns)]
            _ => unreachable!("an event kind this driver does not know"),
        }
    }
}

impl From<Control> for Message {
    fn from(control: Control) -> Self {
        match control {
            Control::Ping(payload) => Message::Ping(Bytes::copy_from_slice(payload.as_bytes())),
            Control::Pong(payload) => Message::Pong(Bytes::copy_from_slice(payload.as_bytes())),
            Control::Close(frame) => Message::Close((!frame.is_empty()).then(|| Box::new(frame))),
        }
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Message::Text(text.into())
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::Text(text.into())
    }
}

impl From<Utf8Bytes> for Message {
    fn from(text: Utf8Bytes) -> Self {
        Message::Text(text)
    }
}

impl From<Vec<u8>> for Message {
    fn from(bytes: Vec<u8>) -> Self {
        Message::Binary(bytes.into())
    }
}

impl From<Bytes> for Message {
    fn from(bytes: Bytes) -> Self {
        Message::Binary(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_message_is_its_payload_handle_and_a_tag() {
        // `Bytes` and `Utf8Bytes` are 32 bytes; the tag takes 8 more.
        assert_eq!(size_of::<Message>(), 40);
    }

    #[test]
    fn close_cuts_a_long_reason_at_a_character_boundary() {
        let reason = "é".repeat(100); // 200 bytes
        let Message::Close(Some(frame)) = Message::close(CloseCode::NORMAL, &reason) else {
            panic!("a close frame");
        };
        assert_eq!(frame.reason().len(), 122);
        assert_eq!(frame.code(), CloseCode::NORMAL);
    }
}
