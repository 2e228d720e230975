//! A connection with permessage-deflate (RFC 7692) in force, fed hostile
//! frames: compressed payloads that are garbage, truncated, bombs, BFINAL
//! blocks with data after them, references into earlier messages.
//!
//! The input's first three bytes choose the setup:
//!
//! - byte 0: bits 0-2 as in `crate::input::split_setup` (small limits,
//!   auto pong off, end of stream); bit 3 the client role (else server);
//!   bit 4 structured input (below, else the rest is raw frames); bit 5
//!   the peer resets its window after every message
//!   (`peer_no_context_takeover`), bit 6 we do (`own_no_context_takeover`,
//!   which only matters to our sending); bit 7 raises `max_message_len` to
//!   40,000 bytes (past the streaming level's 16 KiB buffer and a message
//!   buffer's doublings);
//! - byte 1: the chunking, as in `split_setup`;
//! - byte 2: bits 0-2 our window bits (8 + n), bits 4-6 the peer's; bits 3
//!   and 7 the level (6, 1, 9 or 0) at which structured input compresses
//!   plain text.
//!
//! Structured input is a script of frames well-formed enough to reach the
//! inflater at once, masked as the role needs, each op one byte `c` then
//! its arguments:
//!
//! - `c & 3 == 0` a compressed message, `1` an uncompressed one: bit 2
//!   text (else binary); bits 3-4 the number of fragments less one; bit 5 a
//!   ping after every fragment but the last; bit 6 a two-byte length; bit 7
//!   (compressed only) the bytes are plain text the harness compresses as
//!   the peer would (window bits, context takeover), else they are the
//!   compressed payload itself. Then the length (one or two bytes, little
//!   endian, clamped to what is left), a seed for the cut points if there
//!   are several fragments, and the bytes. RSV1 is set on the first frame
//!   of a compressed message.
//! - `c & 3 == 2`: bit 2 clear, a ping (a length byte, mod 126, then the
//!   payload); set, a close with code 1000, after which nothing is sent.
//! - `c & 3 == 3`: a length byte, then that many bytes sent as they are
//!   (anything: the model below stops there).
//!
//! Invariants:
//!
//! - a run with a `DeflatePool` gives the same as one without, and so does
//!   a second run that borrows the state the first left in the pool,
//!   however the hostile input left it;
//! - everything `crate::decode` checks, at a connection with deflate:
//!   the message level gives the same events, replies, error and state
//!   whole or chunked, the streaming level the same once its pieces are
//!   joined (an event with nothing consumed always carries output); errors
//!   are sticky at both levels, and the close frame sent carries the
//!   error's code (checked again here by kind: 1007 for invalid compressed
//!   text, 1002 for binary, 1009 too long);
//! - a delivered message is at most `max_message_len` bytes (text is UTF-8
//!   by its type at the message level, and checked when the streaming
//!   level's pieces are joined);
//! - heap: at the message level, the partial message stays within the
//!   limit and `EXPANSION` times the bytes fed, plus the inflater's fixed
//!   state (`crate::decode::check_memory`); at the streaming level nothing
//!   grows at all: the inflater, its 16 KiB output buffer and at most
//!   32 KiB of compressed input. A bomb with small limits allocates next
//!   to nothing;
//! - structured input, against a model with flate2 (zlib-rs) as the
//!   oracle: the peer's messages are inflated independently, in one call
//!   each, with the tail `00 00 ff ff` appended and the window carried
//!   from message to message unless the peer resets it. A message whose
//!   frames are within the limits, whose data inflates, within the limit
//!   and (text) as UTF-8, must be delivered, equal to the oracle's output,
//!   with the pings between its fragments before it; for any other
//!   message the connection must fail with one of the errors it allows
//!   (`FrameTooLong`, `MessageTooLong` on the wire or inflated,
//!   `InvalidCompressedData` of its kind, `InvalidUtf8`), after at most
//!   the pings between its fragments. Which of several faults comes first
//!   depends on where in the message each one lies, which the model does
//!   not track.
//!
//! Corner cases where the oracle follows the crate rather than a reading
//! of RFC 7692, documented because a stricter peer could disagree:
//!
//! - after a block with BFINAL set, the rest of the message (at least the
//!   appended tail) is ignored and the next message starts a new stream
//!   (empty window): zlib reports the end of the stream and takes no more
//!   input, so this is also what one flate2 call does;
//! - a payload that ends inside a block (truncated, or even empty) is a
//!   complete message with whatever the bytes so far inflated to; the
//!   next message continues the same block (with context takeover). zlib
//!   cannot tell a block boundary from the middle of one through flate2,
//!   and the oracle inflates the same way.
//!
//! Two crate bugs this target found (faults reported out of stream order,
//! and a match cut by a full output leaking into the next message) are
//! fixed; their reproducers are tests in `tests/it/deflate.rs`, and runs of
//! one input must now be equal.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use wsproto::{
    CloseCode, CloseFrame, Config, ConnectionError, Control, ControlPayload, DeflateParams,
    DeflatePool, Event, MessageKind, ProtocolError, Role,
};

use crate::decode::{
    INFLATE_INPUT, INFLATE_OUTPUT, INFLATE_STATE, Run, check_memory, run_messages, run_stream,
    streaming_connection,
};
use crate::heap;
use crate::input::{Setup, Xorshift, chunks, split_setup};

/// The end of a sync flush, stripped by the sender and appended by the
/// receiver (RFC 7692 section 7.2.1).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// `max_message_len` with bit 7 of byte 0.
const RAISED_MESSAGE_LEN: u64 = 40_000;

/// Slack for the allocator's rounding and small fixed state.
const SLACK: usize = 4096;

/// What the first bytes of an input chose.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    pub role: Role,
    pub setup: Setup,
    /// The body is a script of frames (see the module docs), not frames.
    pub structured: bool,
    /// zlib level for plain text the script compresses.
    pub level: u32,
    pub body: &'a [u8],
}

/// Splits an input into its setup and body (see the module docs).
pub fn parse(data: &[u8]) -> Input<'_> {
    let flags = data.first().copied().unwrap_or(0);
    let (mut setup, rest) = split_setup(data);
    let (bits, body) = match rest {
        [bits, body @ ..] => (*bits, body),
        [] => (0x77, rest),
    };
    if flags & 0x80 != 0 {
        setup.config.max_message_len = RAISED_MESSAGE_LEN;
    }
    let own_bits = 8 + (bits & 7);
    let peer_bits = 8 + ((bits >> 4) & 7);
    setup.deflate = DeflateParams::new(own_bits, peer_bits, flags & 0x40 != 0, flags & 0x20 != 0);
    assert!(setup.deflate.is_some(), "window bits are 8..=15");
    let level = [6, 1, 9, 0][usize::from(((bits >> 3) & 1) | ((bits >> 6) & 2))];
    Input {
        role: if flags & 8 != 0 {
            Role::Client
        } else {
            Role::Server
        },
        setup,
        structured: flags & 0x10 != 0,
        level,
        body,
    }
}

/// Runs every check on one fuzz input.
pub fn check(data: &[u8]) {
    let input = parse(data);
    let (role, setup) = (input.role, &input.setup);
    let script = input.structured.then(|| Script::build(&input));
    let stream = script.as_ref().map_or(input.body, |s| &s.bytes[..]);
    let pieces = chunks(stream, setup.max_chunk, setup.seed);
    let chunked = run_messages(role, setup, &pieces);
    let whole = run_messages(role, setup, &[stream]);
    assert_eq!(chunked, whole, "chunking changed the message-level run");
    let streamed = run_stream(role, setup, &pieces);
    assert_eq!(streamed, chunked, "the streaming level disagrees");
    // Again with a `DeflatePool`: the second run borrows the state the
    // first left, reset from wherever the input stopped it (bad data, a
    // message cut off, a bomb), and must run as on a fresh one.
    let mut pooled = setup.clone();
    pooled.config.deflate.pool = Some(DeflatePool::new(1));
    assert_eq!(
        run_messages(role, &pooled, &pieces),
        chunked,
        "a pooled run differs"
    );
    assert_eq!(
        run_stream(role, &pooled, &pieces),
        streamed,
        "a lent state differs"
    );
    check_events(&setup.config, &whole);
    if let Some(script) = &script {
        script.check(setup, &whole.events);
    }
    check_memory(role, setup, &pieces);
    check_stream_memory(role, setup, &pieces);
}

/// Limits on what was delivered, and the error's close code by kind.
fn check_events(config: &Config, run: &Run) {
    for event in &run.events {
        let len = match event {
            Ok(Event::Text(text)) => text.len(),
            Ok(Event::Binary(data)) => data.len(),
            Ok(_) => continue,
            Err(error) => {
                let Some(protocol) = error.protocol_error() else {
                    continue;
                };
                let code = match protocol {
                    ProtocolError::InvalidCompressedData(MessageKind::Text) => 1007,
                    ProtocolError::InvalidCompressedData(MessageKind::Binary) => 1002,
                    ProtocolError::MessageTooLong { len, max } => {
                        assert!(len > max, "{error:?}");
                        1009
                    }
                    _ => continue,
                };
                assert_eq!(error.close_code(), CloseCode(code), "{error:?}");
                continue;
            }
        };
        assert!(
            len as u64 <= config.max_message_len,
            "delivered a message of {len} bytes (limit {})",
            config.max_message_len
        );
    }
}

/// The streaming level keeps nothing that grows: feeds every chunk,
/// dropping each event and the replies at once, and meters the heap from
/// before the first byte. The inflater, its output buffer and its copy of
/// the compressed input are all it may hold.
fn check_stream_memory(role: Role, setup: &Setup, pieces: &[&[u8]]) {
    let mut bufs: Vec<Vec<u8>> = pieces.iter().map(|piece| piece.to_vec()).collect();
    let mut conn = streaming_connection(role, setup);
    let bound = INFLATE_STATE + INFLATE_INPUT + INFLATE_OUTPUT + SLACK;
    let baseline = heap::reset_peak();
    'chunks: for buf in &mut bufs {
        let mut at = 0;
        loop {
            let outcome = conn.recv_in_place(&mut buf[at..]);
            let grown = heap::peak().saturating_sub(baseline);
            assert!(
                grown <= bound,
                "the streaming level took {grown} heap bytes"
            );
            match outcome {
                Ok((used, Some(_))) => at += used,
                Ok((_, None)) => break,
                Err(_) => break 'chunks,
            }
            let pending = conn.pending_transmit().len();
            conn.advance_transmit(pending);
        }
    }
}

/// A fault the model allows a message to fail with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    FrameTooLong,
    /// On the wire or inflated.
    TooLong,
    InvalidData,
    InvalidUtf8,
}

/// One thing a structured input sends.
#[derive(Debug)]
enum Item {
    Ping(Vec<u8>),
    /// A close with code 1000 and no reason; nothing follows it.
    Close,
    Message(Message),
    /// Bytes sent as they are: the model stops here.
    Raw,
}

/// A data message of a structured input.
#[derive(Debug)]
struct Message {
    kind: MessageKind,
    compressed: bool,
    /// The payload as sent (compressed or not), all fragments.
    payload: Vec<u8>,
    /// The payload length of each frame.
    frames: Vec<usize>,
    /// The pings sent after each fragment but the last.
    pings: Vec<Vec<u8>>,
}

/// A structured input: the bytes sent and what they are.
pub struct Script {
    bytes: Vec<u8>,
    items: Vec<Item>,
    params: DeflateParams,
}

/// Reads a structured body.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> u8 {
        match self.0 {
            [b, rest @ ..] => {
                self.0 = rest;
                *b
            }
            [] => 0,
        }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }
}

/// Writes a frame as a peer of `role` would (a server receives masked
/// frames).
fn put_frame(
    out: &mut Vec<u8>,
    role: Role,
    keys: &mut Xorshift,
    (fin, rsv1, opcode): (bool, bool, u8),
    payload: &[u8],
) {
    out.push(u8::from(fin) << 7 | u8::from(rsv1) << 6 | opcode);
    let masked = role == Role::Server;
    let bit = u8::from(masked) << 7;
    let len = payload.len();
    if len < 126 {
        out.push(bit | len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(bit | 126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if masked {
        let key = (keys.next_u64() as u32).to_be_bytes();
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
}

/// Compresses plain text as the peer would: its window bits (9 for 8, as
/// zlib cannot make 8-bit raw streams), a sync flush with its tail
/// stripped, the window reset after each message if the peer resets it.
struct PeerCompressor {
    compress: Compress,
    reset: bool,
}

impl PeerCompressor {
    fn new(params: &DeflateParams, level: u32) -> Self {
        let bits = params.peer_max_window_bits().max(9);
        PeerCompressor {
            compress: Compress::new_with_window_bits(Compression::new(level), false, bits),
            reset: params.peer_no_context_takeover(),
        }
    }

    fn message(&mut self, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + 64);
        let mut at = 0;
        loop {
            let before = self.compress.total_in();
            self.compress
                .compress_vec(&text[at..], &mut out, FlushCompress::Sync)
                .expect("compressing");
            at += (self.compress.total_in() - before) as usize;
            if at == text.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(64 + text.len() - at);
        }
        if self.reset {
            self.compress.reset();
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        } else if out.is_empty() {
            // Nothing new since the last flush: the empty message of RFC
            // 7692 section 7.2.3.6.
            out.push(0x00);
        }
        out
    }
}

impl Script {
    /// Builds the frames a structured body describes.
    fn build(input: &Input) -> Script {
        let params = input.setup.deflate.expect("deflate is on");
        let role = input.role;
        let mut reader = Reader(input.body);
        let mut keys = Xorshift::new(0x7692);
        let mut compressor: Option<PeerCompressor> = None;
        let mut bytes = Vec::new();
        let mut items = Vec::new();
        while !reader.0.is_empty() {
            let c = reader.byte();
            match c & 3 {
                0 | 1 => {
                    let compressed = c & 3 == 0;
                    let kind = if c & 4 != 0 {
                        MessageKind::Text
                    } else {
                        MessageKind::Binary
                    };
                    let fragments = 1 + usize::from((c >> 3) & 3);
                    let mut len = usize::from(reader.byte());
                    if c & 0x40 != 0 {
                        len |= usize::from(reader.byte()) << 8;
                    }
                    let seed = if fragments > 1 { reader.byte() } else { 0 };
                    let data = reader.take(len);
                    let payload = if compressed && c & 0x80 != 0 {
                        compressor
                            .get_or_insert_with(|| PeerCompressor::new(&params, input.level))
                            .message(data)
                    } else {
                        data.to_vec()
                    };
                    let frames = cut(payload.len(), fragments, seed);
                    let pings: Vec<Vec<u8>> = (1..fragments)
                        .filter(|_| c & 0x20 != 0)
                        .map(|i| vec![i as u8; i])
                        .collect();
                    let opcode = if kind == MessageKind::Text { 1 } else { 2 };
                    let mut at = 0;
                    for (i, &n) in frames.iter().enumerate() {
                        let fin = i + 1 == frames.len();
                        let op = if i == 0 { opcode } else { 0 };
                        let head = (fin, compressed && i == 0, op);
                        put_frame(&mut bytes, role, &mut keys, head, &payload[at..at + n]);
                        at += n;
                        if let Some(ping) = pings.get(i) {
                            put_frame(&mut bytes, role, &mut keys, (true, false, 9), ping);
                        }
                    }
                    items.push(Item::Message(Message {
                        kind,
                        compressed,
                        payload,
                        frames,
                        pings,
                    }));
                }
                2 if c & 4 == 0 => {
                    let len = usize::from(reader.byte()) % 126;
                    let ping = reader.take(len);
                    put_frame(&mut bytes, role, &mut keys, (true, false, 9), ping);
                    items.push(Item::Ping(ping.to_vec()));
                }
                2 => {
                    let close = 1000u16.to_be_bytes();
                    put_frame(&mut bytes, role, &mut keys, (true, false, 8), &close);
                    items.push(Item::Close);
                    break;
                }
                _ => {
                    let len = usize::from(reader.byte());
                    bytes.extend_from_slice(reader.take(len));
                    items.push(Item::Raw);
                }
            }
        }
        Script {
            bytes,
            items,
            params,
        }
    }

    /// Checks the message-level events against the model.
    fn check(&self, setup: &Setup, events: &[Result<Event, ConnectionError>]) {
        let config = &setup.config;
        let mut oracle = Oracle::new(&self.params);
        let mut actual = events.iter();
        let mut next = |what: &dyn std::fmt::Debug| {
            actual
                .next()
                .unwrap_or_else(|| panic!("missing {what:?}; got {events:?}"))
        };
        for item in &self.items {
            match item {
                Item::Raw => return,
                Item::Ping(payload) => {
                    let ping = Event::Control(Control::Ping(
                        ControlPayload::new(payload).expect("at most 125"),
                    ));
                    assert_eq!(next(&ping), &Ok(ping), "a ping");
                }
                Item::Close => {
                    let close = Event::Control(Control::Close(
                        CloseFrame::new(CloseCode(1000), "").expect("no reason"),
                    ));
                    assert_eq!(next(&close), &Ok(close), "the close");
                    return;
                }
                Item::Message(message) => match oracle.verdict(message, config) {
                    Ok(event) => {
                        for payload in &message.pings {
                            let ping = Event::Control(Control::Ping(
                                ControlPayload::new(payload).expect("short"),
                            ));
                            assert_eq!(next(&ping), &Ok(ping), "a ping between fragments");
                        }
                        assert_eq!(next(&event), &Ok(event), "a good message");
                    }
                    Err(faults) => {
                        let mut pings = message.pings.iter();
                        loop {
                            match next(&faults) {
                                Ok(Event::Control(Control::Ping(payload))) => assert_eq!(
                                    Some(payload.as_bytes()),
                                    pings.next().map(Vec::as_slice),
                                    "a ping between fragments of a bad message"
                                ),
                                Err(error) => {
                                    assert!(
                                        allowed(*error, message.kind, &faults),
                                        "{error:?} for a message with {faults:?}: {message:?}"
                                    );
                                    return;
                                }
                                Ok(event) => {
                                    panic!("{event:?} for a message with {faults:?}: {message:?}")
                                }
                            }
                        }
                    }
                },
            }
        }
        match actual.next() {
            None => assert!(!setup.eof, "no error after the end of stream"),
            Some(Err(ConnectionError::UnexpectedEof)) => assert!(setup.eof),
            Some(other) => panic!("{other:?} after everything sent"),
        }
    }
}

/// Whether `error` is one of `faults` for a message of `kind`.
fn allowed(error: ConnectionError, kind: MessageKind, faults: &[Fault]) -> bool {
    let Some(error) = error.protocol_error() else {
        return false;
    };
    let fault = match error {
        ProtocolError::FrameTooLong { .. } => Fault::FrameTooLong,
        ProtocolError::MessageTooLong { .. } => Fault::TooLong,
        ProtocolError::InvalidCompressedData(k) if k == kind => Fault::InvalidData,
        ProtocolError::InvalidUtf8 => Fault::InvalidUtf8,
        _ => return false,
    };
    faults.contains(&fault)
}

/// Cuts `len` bytes into `n` fragments at seeded points (empty ones too).
fn cut(len: usize, n: usize, seed: u8) -> Vec<usize> {
    let mut rng = Xorshift::new(u64::from(seed));
    let mut points: Vec<usize> = (1..n)
        .map(|_| rng.next_u64() as usize % (len + 1))
        .collect();
    points.sort_unstable();
    points.push(len);
    let mut last = 0;
    points
        .into_iter()
        .map(|p| {
            let n = p - last;
            last = p;
            n
        })
        .collect()
}

/// flate2 inflating the peer's messages, independently of the crate.
struct Oracle {
    inflater: Decompress,
    reset_after_message: bool,
}

/// What one message inflated to.
struct Inflation {
    /// The output, cut at the cap.
    output: Vec<u8>,
    /// The data was invalid (after `output`).
    invalid: bool,
}

impl Oracle {
    fn new(params: &DeflateParams) -> Self {
        Oracle {
            // zlib's raw minimum is 9 bits, which decodes 8-bit streams.
            inflater: Decompress::new_with_window_bits(false, params.peer_max_window_bits().max(9)),
            reset_after_message: params.peer_no_context_takeover(),
        }
    }

    /// Inflates one message's payload with the tail appended, into at most
    /// `cap` bytes, in as few calls as the output room allows.
    fn inflate(&mut self, payload: &[u8], cap: usize) -> Inflation {
        let input = [payload, &TAIL].concat();
        let mut output = Vec::new();
        let (mut at, mut invalid, mut ended) = (0, false, false);
        while output.len() < cap {
            let start = output.len();
            let room = (cap - start).min(1 << 20);
            output.resize(start + room, 0);
            let (in_before, out_before) = (self.inflater.total_in(), self.inflater.total_out());
            let status =
                self.inflater
                    .decompress(&input[at..], &mut output[start..], FlushDecompress::None);
            let used = (self.inflater.total_in() - in_before) as usize;
            let written = (self.inflater.total_out() - out_before) as usize;
            output.truncate(start + written);
            at += used;
            match status {
                Err(_) => invalid = true,
                Ok(Status::StreamEnd) => ended = true,
                Ok(Status::Ok | Status::BufError) => {}
            }
            // With all input taken, zlib may still hold the rest of a
            // match that did not fit: only output left unfilled says it is
            // done.
            if invalid
                || ended
                || (used == 0 && written == 0)
                || written < room && at == input.len()
            {
                break;
            }
        }
        if self.reset_after_message || ended {
            self.inflater.reset(false);
        }
        Inflation { output, invalid }
    }

    /// The event a message must give, or the faults it may fail with.
    fn verdict(&mut self, message: &Message, config: &Config) -> Result<Event, Vec<Fault>> {
        let max = usize::try_from(config.max_message_len).unwrap_or(usize::MAX);
        let mut faults = Vec::new();
        let mut total = 0usize;
        for &len in &message.frames {
            if len as u64 > config.max_frame_len {
                faults.push(Fault::FrameTooLong);
            }
            total += len;
            if total > max {
                faults.push(Fault::TooLong);
            }
        }
        let content = if message.compressed {
            // The crate stops inflating once the limit is passed, by at
            // most its 16 KiB or 32 KiB buffers: data past that is never
            // looked at.
            let inflation = self.inflate(&message.payload, max.saturating_add(64 << 10));
            if inflation.invalid {
                faults.push(Fault::InvalidData);
            }
            if inflation.output.len() > max {
                faults.push(Fault::TooLong);
            }
            inflation.output
        } else {
            message.payload.clone()
        };
        if message.kind == MessageKind::Text && std::str::from_utf8(&content).is_err() {
            faults.push(Fault::InvalidUtf8);
        }
        if !faults.is_empty() {
            return Err(faults);
        }
        Ok(match message.kind {
            MessageKind::Text => Event::Text(String::from_utf8(content).expect("checked").into()),
            MessageKind::Binary => Event::Binary(content.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_covers_the_payload() {
        for len in [0, 1, 7, 300] {
            for n in 1..=4 {
                let frames = cut(len, n, 9);
                assert_eq!(frames.len(), n);
                assert_eq!(frames.iter().sum::<usize>(), len);
            }
        }
    }
}
