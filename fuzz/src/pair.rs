//! A client and a server connection talking to each other through an
//! `Arbitrary` script of operations: sends of every kind (valid and
//! invalid), deliveries of any number of bytes either way, and ends of
//! stream.
//!
//! A reference model tracks what each side has sent and what the other must
//! therefore receive. Invariants:
//!
//! - every send returns what RFC 6455 and the docs say (`Closed` after a
//!   close or the end of stream, payload limits, `MessageInProgress`,
//!   UTF-8 across text fragments), and a refused send queues nothing;
//! - every message sent arrives whole, unchanged and in order, interleaved
//!   with the pings, pongs and close exactly as sent, at the message level
//!   or reassembled from the streaming level; the automatic pong and close
//!   echo arrive where the model puts them;
//! - two well-behaved endpoints never see a protocol error; after an end of
//!   stream without a close, the receiver reports `UnexpectedEof`;
//! - all of the above with permessage-deflate negotiated (half the
//!   scripts), with any window bits, context takeover or not either way,
//!   any compression level and any `min_compress_len`: compression changes
//!   the bytes on the wire, never what arrives;
//! - `recv_in_place` never consumes more than it was given;
//! - after everything is delivered, nothing expected is missing, and once
//!   both closes have crossed, both sides are `Closed`.

use std::collections::VecDeque;

use arbitrary::Arbitrary;
use wsproto::{
    CloseCode, CloseFrame, Config, Connection, ConnectionError, Control, ControlPayload,
    DeflateParams, Event, MessageKind, Misuse, Role, SendError, State, StreamEvent, Streaming,
};

use crate::input::Xorshift;

/// One step of a script. `client` says which side acts (sends) or, for
/// deliveries and end of stream, which side receives.
#[derive(Arbitrary, Debug)]
pub enum Op {
    Text {
        client: bool,
        text: String,
    },
    Binary {
        client: bool,
        data: Vec<u8>,
    },
    /// `send_binary_owned` of `len % 9000` bytes counting up from `seed`:
    /// from 4 KiB a payload is queued by reference (a client's masked in
    /// place), below it copied.
    OwnedBinary {
        client: bool,
        seed: u8,
        len: u16,
    },
    /// `send_text_owned` of `text` repeated `1 + repeat` times.
    OwnedText {
        client: bool,
        text: String,
        repeat: u8,
    },
    /// A fragment; text fragments need not be valid UTF-8 on their own.
    Fragment {
        client: bool,
        text: bool,
        data: Vec<u8>,
        fin: bool,
    },
    /// A text message sent as two fragments cut at byte `cut` (maybe inside
    /// a character).
    SplitText {
        client: bool,
        text: String,
        cut: u8,
    },
    Ping {
        client: bool,
        data: Vec<u8>,
    },
    Pong {
        client: bool,
        data: Vec<u8>,
    },
    Close {
        client: bool,
        code: u16,
        reason: String,
    },
    /// Moves up to `max` pending bytes from the other side to `client`'s
    /// side (0 moves nothing).
    Deliver {
        client: bool,
        max: u16,
    },
    /// Delivers everything pending to `client`'s side, then ends its stream.
    Eof {
        client: bool,
    },
}

/// A whole script: how each side reads, whether they negotiated
/// permessage-deflate, then the operations.
#[derive(Arbitrary, Debug)]
pub struct Script {
    client_streams: bool,
    server_streams: bool,
    client_auto_pong: bool,
    server_auto_pong: bool,
    deflate: Option<Deflate>,
    ops: Vec<Op>,
}

/// permessage-deflate as a handshake could have agreed on it: the client's
/// parameters are the server's mirrored, and each side compresses at its
/// own level from its own `min_compress_len`.
///
/// The limits stay the defaults (16 MiB frames, 64 MiB messages), far above
/// what a script sends even uncompressed; so the model need not predict
/// how compression changes the size on the wire, which also counts against
/// the receiver's `max_message_len`.
#[derive(Arbitrary, Debug)]
pub struct Deflate {
    /// Window bits, 8 + n % 8.
    client_bits: u8,
    server_bits: u8,
    client_no_context_takeover: bool,
    server_no_context_takeover: bool,
    /// zlib levels, n % 10 (the crate clamps 10 and up to 9 itself).
    client_level: u8,
    server_level: u8,
    /// Whole messages shorter than this go uncompressed; 255 means never
    /// compress one (`usize::MAX`).
    client_min_compress_len: u8,
    server_min_compress_len: u8,
}

impl Deflate {
    /// The client's parameters (the server's are these mirrored).
    fn client_params(&self) -> DeflateParams {
        DeflateParams::new(
            8 + self.client_bits % 8,
            8 + self.server_bits % 8,
            self.client_no_context_takeover,
            self.server_no_context_takeover,
        )
        .expect("window bits are 8..=15")
    }
}

fn min_compress_len(n: u8) -> usize {
    if n == u8::MAX {
        usize::MAX
    } else {
        usize::from(n)
    }
}

/// The first byte of every pong the application sends (and of no ping).
const APP_PONG: u8 = 0xa5;

/// A connection at the level its side reads at (the level is part of the
/// connection's type).
enum Endpoint {
    Messages(Connection),
    Streaming(Connection<Streaming>),
}

/// Runs `$body` with `$conn` bound to the connection, whatever its level.
macro_rules! on_either {
    ($endpoint:expr, $conn:ident => $body:expr) => {
        match $endpoint {
            Endpoint::Messages($conn) => $body,
            Endpoint::Streaming($conn) => $body,
        }
    };
}

/// The calls both levels have, for the model's sends and deliveries.
impl Endpoint {
    fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        on_either!(self, conn => conn.send_text(text))
    }

    fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        on_either!(self, conn => conn.send_binary(data))
    }

    fn send_binary_owned(&mut self, data: Vec<u8>) -> Result<(), SendError> {
        on_either!(self, conn => conn.send_binary_owned(data))
    }

    fn send_text_owned(&mut self, text: String) -> Result<(), SendError> {
        on_either!(self, conn => conn.send_text_owned(text))
    }

    fn buffered_amount(&self) -> usize {
        on_either!(self, conn => conn.buffered_amount())
    }

    fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        fin: bool,
    ) -> Result<(), SendError> {
        on_either!(self, conn => conn.send_fragment(kind, data, fin))
    }

    fn send_ping(&mut self, data: &[u8]) -> Result<(), SendError> {
        on_either!(self, conn => conn.send_ping(data))
    }

    fn send_pong(&mut self, data: &[u8]) -> Result<(), SendError> {
        on_either!(self, conn => conn.send_pong(data))
    }

    fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        on_either!(self, conn => conn.close(std::time::Instant::now(), code, reason))
    }

    fn pending_transmit(&self) -> &[u8] {
        on_either!(self, conn => conn.pending_transmit())
    }

    fn advance_transmit(&mut self, n: usize) {
        on_either!(self, conn => conn.advance_transmit(n))
    }

    fn recv_eof(&mut self) {
        on_either!(self, conn => conn.recv_eof())
    }

    fn state(&self) -> State {
        on_either!(self, conn => conn.state())
    }

    fn role(&self) -> Role {
        on_either!(self, conn => conn.role())
    }

    /// The connection of a side that reads whole messages.
    fn messages(&mut self) -> &mut Connection {
        match self {
            Endpoint::Messages(conn) => conn,
            Endpoint::Streaming(_) => panic!("this side streams"),
        }
    }

    /// The connection of a side that streams.
    fn streaming(&mut self) -> &mut Connection<Streaming> {
        match self {
            Endpoint::Streaming(conn) => conn,
            Endpoint::Messages(_) => panic!("this side reads whole messages"),
        }
    }
}

/// One endpoint and the model of what it must see.
struct Side {
    /// Its connection, at the streaming level if it `streams`.
    conn: Endpoint,
    streams: bool,
    auto_pong: bool,
    /// Events this side must receive, in order.
    expect: VecDeque<Event>,
    /// Automatic pongs owed to this side, in order: they may overtake data
    /// the peer queued before them (at a frame boundary), never each
    /// other, and older ones may be skipped (coalesced), never the newest.
    owed_pongs: Vec<Event>,
    /// The automatic pongs received, in order.
    received_pongs: Vec<Event>,
    /// The fragmented message this side is sending.
    sending: Option<(MessageKind, Vec<u8>)>,
    /// The message this side is receiving at the streaming level.
    receiving: Option<(MessageKind, Vec<u8>)>,
    /// This side sent a close (its own, or the echo).
    close_sent: bool,
    /// This side received the peer's close.
    close_received: bool,
    /// The stream to this side ended.
    eof: bool,
}

impl Side {
    /// Whether the automatic pongs received are the owed ones in order,
    /// some older ones skipped, the newest included: matched from the end,
    /// each to its latest possible place.
    fn owed_settled(&self) -> bool {
        if self.owed_pongs.last() != self.received_pongs.last() {
            return false;
        }
        let mut owed = self.owed_pongs.iter().rev();
        self.received_pongs
            .iter()
            .rev()
            .all(|got| owed.any(|o| o == got))
    }

    fn new(role: Role, streams: bool, auto_pong: bool, deflate: Option<&Deflate>) -> Self {
        let mut config = Config::default();
        config.auto_pong = auto_pong;
        let entropy = Box::new(Xorshift::new(3));
        let conn = match deflate {
            None => Connection::with_entropy(role, config, entropy),
            Some(deflate) => {
                let (params, level, min_len) = match role {
                    Role::Client => (
                        deflate.client_params(),
                        deflate.client_level,
                        deflate.client_min_compress_len,
                    ),
                    Role::Server => (
                        deflate.client_params().mirrored(),
                        deflate.server_level,
                        deflate.server_min_compress_len,
                    ),
                };
                config.deflate.enabled = true;
                config.deflate.level = level % 10;
                config.deflate.min_compress_len = min_compress_len(min_len);
                Connection::with_deflate(role, config, params, entropy)
            }
        };
        let conn = if streams {
            Endpoint::Streaming(conn.into_streaming())
        } else {
            Endpoint::Messages(conn)
        };
        Side {
            conn,
            streams,
            auto_pong,
            expect: VecDeque::new(),
            owed_pongs: Vec::new(),
            received_pongs: Vec::new(),
            sending: None,
            receiving: None,
            close_sent: false,
            close_received: false,
            eof: false,
        }
    }

    /// Whether the model says a send must fail with `Closed`.
    fn send_closed(&self) -> bool {
        self.close_sent || self.eof
    }
}

/// Runs a script; panics on the first broken invariant.
pub fn check(script: Script) {
    let deflate = script.deflate.as_ref();
    let mut client = Side::new(
        Role::Client,
        script.client_streams,
        script.client_auto_pong,
        deflate,
    );
    let mut server = Side::new(
        Role::Server,
        script.server_streams,
        script.server_auto_pong,
        deflate,
    );
    for op in script.ops {
        let client_acts = match op {
            Op::Text { client, .. }
            | Op::Binary { client, .. }
            | Op::OwnedBinary { client, .. }
            | Op::OwnedText { client, .. }
            | Op::Fragment { client, .. }
            | Op::SplitText { client, .. }
            | Op::Ping { client, .. }
            | Op::Pong { client, .. }
            | Op::Close { client, .. }
            | Op::Deliver { client, .. }
            | Op::Eof { client } => client,
        };
        let (me, peer) = if client_acts {
            (&mut client, &mut server)
        } else {
            (&mut server, &mut client)
        };
        apply(op, me, peer);
    }
    // Deliver everything still pending, both ways, until nothing moves
    // (each delivery may queue replies).
    loop {
        let moved = deliver(&mut server, &mut client, usize::MAX)
            + deliver(&mut client, &mut server, usize::MAX);
        if moved == 0 {
            break;
        }
    }
    for (name, side) in [("client", &client), ("server", &server)] {
        assert!(
            side.expect.is_empty() && side.owed_settled(),
            "{name} never received {:?} {:?}",
            side.expect,
            side.owed_pongs
        );
    }
    if client.close_sent && client.close_received && server.close_sent && server.close_received {
        assert_eq!(client.conn.state(), State::Closed);
        assert_eq!(server.conn.state(), State::Closed);
    }
}

fn apply(op: Op, me: &mut Side, peer: &mut Side) {
    match op {
        Op::Text { text, .. } => {
            let expected = whole_message_expected(me);
            let send = |conn: &mut Endpoint| conn.send_text(&text);
            check_send(me, peer, send, expected, || {
                Event::Text(text.as_str().into())
            });
        }
        Op::Binary { data, .. } => {
            let expected = whole_message_expected(me);
            let send = |conn: &mut Endpoint| conn.send_binary(&data);
            check_send(me, peer, send, expected, || {
                Event::Binary(data.clone().into())
            });
        }
        Op::OwnedBinary { seed, len, .. } => {
            let data: Vec<u8> = (0..usize::from(len) % 9000)
                .map(|i| seed.wrapping_add(i as u8))
                .collect();
            let expected = whole_message_expected(me);
            let event = Event::Binary(data.clone().into());
            let send = |conn: &mut Endpoint| conn.send_binary_owned(data);
            check_send(me, peer, send, expected, || event);
        }
        Op::OwnedText { text, repeat, .. } => {
            let text = text.repeat(1 + usize::from(repeat));
            let expected = whole_message_expected(me);
            let event = Event::Text(text.as_str().into());
            let send = |conn: &mut Endpoint| conn.send_text_owned(text);
            check_send(me, peer, send, expected, || event);
        }
        Op::Fragment {
            text, data, fin, ..
        } => {
            let kind = if text {
                MessageKind::Text
            } else {
                MessageKind::Binary
            };
            send_fragment(me, peer, kind, &data, fin);
        }
        Op::SplitText { text, cut, .. } => {
            let bytes = text.as_bytes();
            let (first, second) = bytes.split_at(usize::from(cut).min(bytes.len()));
            send_fragment(me, peer, MessageKind::Text, first, false);
            send_fragment(me, peer, MessageKind::Text, second, true);
        }
        Op::Ping { mut data, .. } => {
            // Pings never start with the byte that marks the application's
            // own pongs, so an automatic pong is never mistaken for one.
            if data.first() == Some(&APP_PONG) {
                data[0] = !APP_PONG;
            }
            let expected = control_expected(me, &data);
            let send = |conn: &mut Endpoint| conn.send_ping(&data);
            check_send(me, peer, send, expected, || {
                Event::Control(Control::Ping(
                    ControlPayload::new(&data).expect("checked length"),
                ))
            });
        }
        Op::Pong { mut data, .. } => {
            data.insert(0, APP_PONG);
            let expected = control_expected(me, &data);
            let send = |conn: &mut Endpoint| conn.send_pong(&data);
            check_send(me, peer, send, expected, || {
                Event::Control(Control::Pong(
                    ControlPayload::new(&data).expect("checked length"),
                ))
            });
        }
        Op::Close { code, reason, .. } => {
            let code = CloseCode(code);
            let expected = if me.send_closed() {
                Err(SendError::Closed)
            } else if !code.is_sendable() {
                Err(SendError::Misuse(Misuse::UnsendableCloseCode(code)))
            } else if reason.len() > 123 {
                Err(SendError::Misuse(Misuse::CloseReasonTooLong(reason.len())))
            } else {
                Ok(())
            };
            let send = |conn: &mut Endpoint| conn.close(code, &reason);
            check_send(me, peer, send, expected, || {
                Event::Control(Control::Close(
                    CloseFrame::new(code, &reason).expect("checked length"),
                ))
            });
            if expected.is_ok() {
                me.close_sent = true;
                // A message being sent in fragments is abandoned.
                me.sending = None;
            }
        }
        Op::Deliver { max, .. } => {
            deliver(peer, me, usize::from(max));
        }
        Op::Eof { .. } => {
            while deliver(peer, me, usize::MAX) > 0 {}
            if me.eof {
                return;
            }
            assert!(
                me.expect.is_empty() && me.owed_settled(),
                "lost before the end of stream: {:?} {:?}",
                me.expect,
                me.owed_pongs
            );
            me.conn.recv_eof();
            me.eof = true;
            let outcome = poll_error(me);
            if me.close_received {
                assert_eq!(outcome, None, "an error after a clean close");
            } else {
                assert_eq!(outcome, Some(ConnectionError::UnexpectedEof));
            }
            assert_eq!(
                me.conn.state(),
                State::Closed,
                "open after the end of stream"
            );
        }
    }
}

/// The result a whole text or binary message send must have.
fn whole_message_expected(me: &Side) -> Result<(), SendError> {
    if me.send_closed() {
        Err(SendError::Closed)
    } else if me.sending.is_some() {
        Err(SendError::Misuse(Misuse::MessageInProgress))
    } else {
        Ok(())
    }
}

/// The result a ping or pong send must have.
fn control_expected(me: &Side, data: &[u8]) -> Result<(), SendError> {
    if me.send_closed() {
        Err(SendError::Closed)
    } else if data.len() > 125 {
        Err(SendError::Misuse(Misuse::ControlPayloadTooLong(data.len())))
    } else {
        Ok(())
    }
}

/// Runs `send` on this side's connection and checks its result against
/// the model; on success the peer must receive `event` (unless its stream
/// has already ended); on failure nothing may have been queued.
fn check_send(
    me: &mut Side,
    peer: &mut Side,
    send: impl FnOnce(&mut Endpoint) -> Result<(), SendError>,
    expected: Result<(), SendError>,
    event: impl FnOnce() -> Event,
) {
    let queued_before = me.conn.buffered_amount();
    let result = send(&mut me.conn);
    assert_eq!(result, expected, "send result");
    if result.is_err() {
        assert_eq!(
            me.conn.buffered_amount(),
            queued_before,
            "a refused send queued bytes"
        );
    } else if !peer.eof {
        peer.expect.push_back(event());
    }
}

fn send_fragment(me: &mut Side, peer: &mut Side, kind: MessageKind, data: &[u8], fin: bool) {
    let queued_before = me.conn.pending_transmit().len();
    let expected = if me.send_closed() {
        Err(SendError::Closed)
    } else {
        match &me.sending {
            Some((current, _)) if *current != kind => {
                Err(SendError::Misuse(Misuse::MessageInProgress))
            }
            sending => {
                let mut all = sending.as_ref().map_or(Vec::new(), |(_, b)| b.clone());
                all.extend_from_slice(data);
                let valid = kind == MessageKind::Binary
                    || match std::str::from_utf8(&all) {
                        Ok(_) => true,
                        // Cut inside a character: fine unless it is the end.
                        Err(e) => e.error_len().is_none() && !fin,
                    };
                if valid {
                    Ok(())
                } else {
                    Err(SendError::Misuse(Misuse::InvalidUtf8))
                }
            }
        }
    };
    let result = me.conn.send_fragment(kind, data, fin);
    assert_eq!(
        result,
        expected,
        "send_fragment({kind:?}, {} bytes, {fin})",
        data.len()
    );
    if result.is_err() {
        assert_eq!(
            me.conn.pending_transmit().len(),
            queued_before,
            "a refused fragment queued bytes"
        );
        return;
    }
    let (_, bytes) = me.sending.get_or_insert_with(|| (kind, Vec::new()));
    bytes.extend_from_slice(data);
    if fin {
        let (kind, bytes) = me.sending.take().expect("just inserted");
        if !peer.eof {
            peer.expect.push_back(match kind {
                MessageKind::Text => Event::Text(String::from_utf8(bytes).expect("checked").into()),
                MessageKind::Binary => Event::Binary(bytes.into()),
            });
        }
    }
}

/// Moves up to `max` pending bytes from `from` to `to` and checks every
/// event they produce. Returns how many bytes moved. Bytes sent to a side
/// whose stream ended are dropped, as a closed socket would.
fn deliver(from: &mut Side, to: &mut Side, max: usize) -> usize {
    let n = from.conn.pending_transmit().len().min(max);
    if n == 0 {
        return 0;
    }
    let mut chunk = from.conn.pending_transmit()[..n].to_vec();
    from.conn.advance_transmit(n);
    if to.eof {
        return n;
    }
    if to.streams {
        // Until the connection has nothing more to say: with deflate,
        // inflated output may still wait once every byte is consumed.
        let role = to.conn.role();
        let mut at = 0;
        loop {
            let given = chunk.len() - at;
            let (used, event) = to
                .conn
                .streaming()
                .recv_in_place(&mut chunk[at..])
                .unwrap_or_else(|e| panic!("{role:?} failed: {e:?}"));
            assert!(used <= given, "consumed {used} of {given} bytes");
            let event = match event {
                None => {
                    assert_eq!(used, given, "stopped early without an event");
                    break;
                }
                Some(StreamEvent::Data { kind, payload, fin }) => {
                    assert!(
                        used > 0 || !payload.is_empty() || fin,
                        "an empty event that consumed nothing"
                    );
                    let (current, bytes) = to.receiving.get_or_insert_with(|| (kind, Vec::new()));
                    assert_eq!(*current, kind, "a message changed kind");
                    bytes.extend_from_slice(payload);
                    match (fin, to.receiving.take_if(|_| fin)) {
                        (true, Some((MessageKind::Text, bytes))) => Some(Event::Text(
                            String::from_utf8(bytes).expect("validated").into(),
                        )),
                        (true, Some((MessageKind::Binary, bytes))) => {
                            Some(Event::Binary(bytes.into()))
                        }
                        _ => None,
                    }
                }
                Some(StreamEvent::Control(Control::Ping(p))) => {
                    Some(Event::Control(Control::Ping(p)))
                }
                Some(StreamEvent::Control(Control::Pong(p))) => {
                    Some(Event::Control(Control::Pong(p)))
                }
                Some(StreamEvent::Control(Control::Close(frame))) => {
                    Some(Event::Control(Control::Close(frame)))
                }
                Some(other) => panic!("unknown stream event {other:?}"),
            };
            at += used;
            if let Some(event) = event {
                received(to, from, event);
            }
        }
    } else {
        to.conn.messages().recv(&chunk);
        loop {
            match to.conn.messages().poll_event() {
                Ok(Some(event)) => received(to, from, event),
                Ok(None) => break,
                Err(error) => panic!("{:?} failed: {error:?}", to.conn.role()),
            }
        }
    }
    n
}

/// Checks one event against the model and records the replies it causes.
fn received(me: &mut Side, peer: &mut Side, event: Event) {
    // An automatic pong may overtake queued data, and a newer one may
    // replace older ones still waiting (only the newest ping needs an
    // answer): skip to the first owed pong it matches.
    let owed = matches!(event, Event::Control(Control::Pong(_)))
        && me.expect.front() != Some(&event)
        && me.owed_pongs.contains(&event);
    let expected = if owed {
        me.received_pongs.push(event.clone());
        Some(event.clone())
    } else {
        me.expect.pop_front()
    };
    assert_eq!(
        Some(&event),
        expected.as_ref(),
        "{:?} received",
        me.conn.role()
    );
    match event {
        Event::Control(Control::Ping(payload)) if me.auto_pong && !me.close_sent && !peer.eof => {
            peer.owed_pongs.push(Event::Control(Control::Pong(payload)));
        }
        Event::Control(Control::Close(frame)) => {
            me.close_received = true;
            me.receiving = None;
            assert!(
                me.expect.is_empty() && me.owed_settled(),
                "expected after the close: {:?} {:?}",
                me.expect,
                me.owed_pongs
            );
            if !me.close_sent {
                me.close_sent = true;
                me.sending = None;
                if !peer.eof {
                    let echo = CloseFrame::new(frame.code(), "").expect("empty reason");
                    peer.expect.push_back(Event::Control(Control::Close(echo)));
                }
            }
        }
        _ => {}
    }
}

/// After an end of stream: the error the receive calls report, if any.
fn poll_error(me: &mut Side) -> Option<ConnectionError> {
    if me.streams {
        let mut empty = [0u8; 0];
        me.conn.streaming().recv_in_place(&mut empty).err()
    } else {
        match me.conn.messages().poll_event() {
            Ok(None) => None,
            Ok(Some(event)) => panic!("an event after the end of stream: {event:?}"),
            Err(error) => Some(error),
        }
    }
}
