//! Shared helpers for the integration tests: a deterministic entropy source,
//! a frame builder that can produce any (even invalid) frame, drivers that
//! run a byte stream through a `Connection` at the message level and at the
//! streaming level, and a parser for the frames a connection transmits.
//!
//! Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use wsproto::{
    CloseCode, CloseFrame, Config, Connection, ConnectionError, Control, ControlPayload,
    EntropyError, EntropySource, Event, MessageKind, ProtocolError, ReceiveLevel, Role, SendError,
    State, StreamEvent, Streaming,
};

pub mod deflate_audit;
pub mod deflate_bits;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The masking key of the RFC 6455 section 5.7 examples.
pub const RFC_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// The key used for the frames the tests send to a server: no zero byte, so
/// a payload that is not unmasked (or unmasked at the wrong offset) shows.
pub const MASK: [u8; 4] = [0xa5, 0x5a, 0x3c, 0xc3];

/// A deterministic [`EntropySource`]: hands out the scripted bytes first,
/// then an xorshift64 sequence.
pub struct ScriptedEntropy {
    script: Vec<u8>,
    pos: usize,
    state: u64,
}

impl ScriptedEntropy {
    /// A source whose first bytes are `first` (e.g. the first masking key).
    pub fn new(first: &[u8]) -> Self {
        ScriptedEntropy {
            script: first.to_vec(),
            pos: 0,
            state: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// A source with no script: only the xorshift sequence.
    pub fn xorshift() -> Self {
        Self::new(&[])
    }

    fn next_byte(&mut self) -> u8 {
        if let Some(&byte) = self.script.get(self.pos) {
            self.pos += 1;
            return byte;
        }
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state >> 24) as u8
    }
}

impl EntropySource for ScriptedEntropy {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        for byte in dest {
            *byte = self.next_byte();
        }
        Ok(())
    }
}

/// The default config with other size limits.
pub fn limits(max_frame_len: u64, max_message_len: u64) -> Config {
    let mut config = Config::default();
    config.max_frame_len = max_frame_len;
    config.max_message_len = max_message_len;
    config
}

/// A connection whose client masks come from [`ScriptedEntropy::xorshift`].
pub fn connection(role: Role, config: Config) -> Connection {
    Connection::with_entropy(role, config, Box::new(ScriptedEntropy::xorshift()))
}

/// [`connection`] at the streaming level.
pub fn stream_connection(role: Role, config: Config) -> Connection<Streaming> {
    connection(role, config).into_streaming()
}

/// How a frame header encodes its payload length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LenEncoding {
    /// The shortest form, as RFC 6455 requires of senders.
    Minimal,
    /// The 16-bit form (length byte 126), whatever the length.
    Force16,
    /// The 64-bit form (length byte 127), whatever the length.
    Force64,
}

/// A frame header announcing `len` payload bytes. `rsv` is the three
/// reserved bits (`0b100` = RSV1) and `opcode` any four-bit value, so
/// invalid headers can be built too.
pub fn header(
    fin: bool,
    rsv: u8,
    opcode: u8,
    len: u64,
    mask: Option<[u8; 4]>,
    encoding: LenEncoding,
) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | ((rsv & 0b111) << 4) | (opcode & 0x0f)];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let encoding = match encoding {
        LenEncoding::Minimal if len < 126 => None,
        LenEncoding::Minimal if len <= 0xffff => Some(LenEncoding::Force16),
        LenEncoding::Minimal => Some(LenEncoding::Force64),
        forced => Some(forced),
    };
    match encoding {
        None => out.push(mask_bit | len as u8),
        Some(LenEncoding::Force16) => {
            out.push(mask_bit | 126);
            let short = u16::try_from(len).expect("length fits in 16 bits");
            out.extend_from_slice(&short.to_be_bytes());
        }
        Some(_) => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out
}

/// A whole frame: header, then `payload` masked with `mask` if given.
pub fn frame(
    fin: bool,
    rsv: u8,
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
    encoding: LenEncoding,
) -> Vec<u8> {
    let mut out = header(fin, rsv, opcode, payload.len() as u64, mask, encoding);
    match mask {
        Some(key) => out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4])),
        None => out.extend_from_slice(payload),
    }
    out
}

/// A masked frame (as a client sends) with any bits, opcode and encoding.
pub fn masked_frame(
    fin: bool,
    rsv: u8,
    opcode: u8,
    payload: &[u8],
    mask: [u8; 4],
    encoding: LenEncoding,
) -> Vec<u8> {
    frame(fin, rsv, opcode, payload, Some(mask), encoding)
}

/// A valid client-to-server frame: masked with [`MASK`], minimal length.
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    masked_frame(fin, 0, opcode, payload, MASK, LenEncoding::Minimal)
}

/// A valid server-to-client frame: unmasked, minimal length.
pub fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(fin, 0, opcode, payload, None, LenEncoding::Minimal)
}

/// A close payload: the code in network order, then the reason bytes.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut out = code.to_be_bytes().to_vec();
    out.extend_from_slice(reason);
    out
}

/// The frames one after the other.
pub fn concat(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

// ----- expected events -----

pub type Outcome = Vec<Result<Event, ConnectionError>>;

pub fn text(s: &str) -> Result<Event, ConnectionError> {
    Ok(Event::Text(s.into()))
}

pub fn binary(data: &[u8]) -> Result<Event, ConnectionError> {
    Ok(Event::Binary(data.to_vec().into()))
}

pub fn ping(data: &[u8]) -> Result<Event, ConnectionError> {
    Ok(Event::Control(Control::Ping(
        ControlPayload::new(data).expect("at most 125 bytes"),
    )))
}

pub fn pong(data: &[u8]) -> Result<Event, ConnectionError> {
    Ok(Event::Control(Control::Pong(
        ControlPayload::new(data).expect("at most 125 bytes"),
    )))
}

pub fn close(code: u16, reason: &str) -> Result<Event, ConnectionError> {
    Ok(Event::Control(Control::Close(
        CloseFrame::new(CloseCode(code), reason).expect("reason fits"),
    )))
}

/// The close event of a close frame without payload.
pub fn close_empty() -> Result<Event, ConnectionError> {
    close(1005, "")
}

// ----- drivers -----

/// What a connection did with a byte stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// Events in order, then the error if the connection failed.
    pub events: Outcome,
    /// Every byte the connection transmitted.
    pub sent: Vec<u8>,
    /// The state after the last chunk (and after draining the transmit).
    pub state: State,
}

/// Feeds `chunks` to a new `role` connection with `recv`, draining
/// `poll_event` and `poll_transmit` after each chunk.
pub fn run_messages(role: Role, config: Config, chunks: &[&[u8]]) -> Run {
    run_messages_on(connection(role, config), chunks)
}

/// [`run_messages`] on a connection made by the caller (permessage-deflate).
pub fn run_messages_on(mut conn: Connection, chunks: &[&[u8]]) -> Run {
    let mut events = Vec::new();
    let mut sent = Vec::new();
    'chunks: for chunk in chunks {
        conn.recv(chunk);
        loop {
            match conn.poll_event() {
                Ok(Some(event)) => events.push(Ok(event)),
                Ok(None) => break,
                Err(error) => {
                    events.push(Err(error));
                    assert_sticky(&mut conn, error);
                    assert_eq!(conn.poll_event(), Err(error), "the error is sticky");
                    break 'chunks;
                }
            }
        }
        conn.poll_transmit(&mut sent);
    }
    conn.poll_transmit(&mut sent);
    Run {
        events,
        sent,
        state: conn.state(),
    }
}

/// A streaming event with its payload copied out of the caller's buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Data {
        kind: MessageKind,
        payload: Vec<u8>,
        fin: bool,
    },
    Ping(ControlPayload),
    Pong(ControlPayload),
    Close(CloseFrame),
}

/// A streaming-level run: the pieces as handed out, and the same run with the
/// data pieces reassembled into message events (comparable with
/// [`run_messages`]; a message cut short by an error is not reported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRun {
    pub pieces: Vec<Piece>,
    pub run: Run,
}

/// Feeds `chunks` to a new `role` connection with `recv_in_place`, each
/// chunk copied into a mutable buffer and consumed until no event is left.
pub fn run_stream(role: Role, config: Config, chunks: &[&[u8]]) -> StreamRun {
    run_stream_on(stream_connection(role, config), chunks)
}

/// [`run_stream`] on a connection made by the caller (permessage-deflate).
pub fn run_stream_on(mut conn: Connection<Streaming>, chunks: &[&[u8]]) -> StreamRun {
    let mut pieces = Vec::new();
    let mut events = Vec::new();
    let mut sent = Vec::new();
    let mut message: Option<(MessageKind, Vec<u8>)> = None;
    'chunks: for chunk in chunks {
        let mut buf = chunk.to_vec();
        let len = buf.len();
        let mut at = 0;
        loop {
            let (used, event) = match conn.recv_in_place(&mut buf[at..]) {
                Ok(found) => found,
                Err(error) => {
                    events.push(Err(error));
                    assert_sticky(&mut conn, error);
                    let mut more = [0x81, 0x00];
                    assert_eq!(
                        conn.recv_in_place(&mut more),
                        Err(error),
                        "the error is sticky"
                    );
                    break 'chunks;
                }
            };
            assert!(used <= len - at, "consumed more than it was given");
            at += used;
            let piece = match event {
                None => {
                    assert_eq!(at, len, "None returned before the input was used");
                    break;
                }
                Some(StreamEvent::Data { kind, payload, fin }) => Piece::Data {
                    kind,
                    payload: payload.to_vec(),
                    fin,
                },
                Some(StreamEvent::Control(Control::Ping(p))) => Piece::Ping(p),
                Some(StreamEvent::Control(Control::Pong(p))) => Piece::Pong(p),
                Some(StreamEvent::Control(Control::Close(f))) => Piece::Close(f),
                Some(other) => panic!("unknown stream event {other:?}"),
            };
            match &piece {
                Piece::Data { kind, payload, fin } => {
                    let (current, bytes) = message.get_or_insert_with(|| (*kind, Vec::new()));
                    assert_eq!(current, kind, "the kind changed within a message");
                    bytes.extend_from_slice(payload);
                    if *fin {
                        let (kind, bytes) = message.take().expect("a message in progress");
                        events.push(Ok(match kind {
                            MessageKind::Binary => Event::Binary(bytes.into()),
                            MessageKind::Text => Event::Text(
                                String::from_utf8(bytes)
                                    .expect("a finished text is valid UTF-8")
                                    .into(),
                            ),
                        }));
                    }
                }
                Piece::Ping(p) => events.push(Ok(Event::Control(Control::Ping(*p)))),
                Piece::Pong(p) => events.push(Ok(Event::Control(Control::Pong(*p)))),
                Piece::Close(f) => events.push(Ok(Event::Control(Control::Close(*f)))),
            }
            pieces.push(piece);
        }
        conn.poll_transmit(&mut sent);
    }
    conn.poll_transmit(&mut sent);
    StreamRun {
        pieces,
        run: Run {
            events,
            sent,
            state: conn.state(),
        },
    }
}

/// After a connection failed, no data frame can be queued.
fn assert_sticky<L: ReceiveLevel>(conn: &mut Connection<L>, error: ConnectionError) {
    assert_eq!(
        conn.send_text("late"),
        Err(SendError::Closed),
        "after {error:?}"
    );
}

/// [`run_messages`] for a server with the default config, one chunk.
pub fn server_messages(bytes: &[u8]) -> Run {
    run_messages(Role::Server, Config::default(), &[bytes])
}

/// Runs `chunks` at both levels, asserts that they agree (events, error,
/// transmitted bytes, state) and returns the run.
pub fn run_both(role: Role, config: Config, chunks: &[&[u8]]) -> Run {
    run_both_on(&|| connection(role, config.clone()), chunks)
}

/// [`run_both`] on connections made by `make` (permessage-deflate).
pub fn run_both_on(make: &dyn Fn() -> Connection, chunks: &[&[u8]]) -> Run {
    let messages = run_messages_on(make(), chunks);
    let stream = run_stream_on(make().into_streaming(), chunks);
    assert_eq!(
        stream.run, messages,
        "streaming level (left) and message level (right) disagree"
    );
    messages
}

/// "κόσμε", U+D800 encoded (ED A0 80, a surrogate, never valid), "edited".
pub const KOSME_SURROGATE: [u8; 20] = [
    0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64,
    0x69, 0x74, 0x65, 0x64,
];
/// Index of 0xA0 in [`KOSME_SURROGATE`]: the first byte proving it invalid.
pub const SURROGATE_PROOF: usize = 12;

/// Checks that `chunks` make a `role` connection fail with `error` after the
/// events `before`, that `error` maps to `code`, and that the last frame sent
/// is a close frame with `code`. Returns the (message-level) run.
pub fn assert_fails(
    role: Role,
    config: Config,
    chunks: &[&[u8]],
    before: Outcome,
    error: ProtocolError,
    code: u16,
) -> Run {
    assert_eq!(error.close_code(), CloseCode(code));
    let run = run_both(role, config, chunks);
    let mut expected = before;
    expected.push(Err(error.into()));
    assert_eq!(run.events, expected);
    assert_eq!(sent_close_code(&run.sent), Some(code));
    assert_eq!(run.state, State::Closed);
    run
}

// ----- chunkings -----

/// `bytes` cut into two chunks at `at` (either may be empty).
pub fn split_at(bytes: &[u8], at: usize) -> Vec<&[u8]> {
    let (a, b) = bytes.split_at(at);
    vec![a, b]
}

/// `bytes` cut into chunks of `n` bytes (the last may be shorter).
pub fn chunks_of(bytes: &[u8], n: usize) -> Vec<&[u8]> {
    bytes.chunks(n).collect()
}

/// `bytes` cut at each of `cuts` (taken modulo `bytes.len() + 1`, sorted,
/// repeats ignored): for property tests that draw arbitrary cut points.
pub fn cut_at<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts {
        if cut > start {
            chunks.push(&bytes[start..cut]);
            start = cut;
        }
    }
    chunks.push(&bytes[start..]);
    chunks
}

// ----- transmitted frames -----

/// A frame parsed from transmitted bytes, payload unmasked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

/// Parses every frame in `bytes`; panics if the bytes end inside a frame.
pub fn parse_frames(mut bytes: &[u8]) -> Vec<WireFrame> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 2, "truncated header in {bytes:02x?}");
        let (fin, rsv, opcode) = (bytes[0] & 0x80 != 0, (bytes[0] >> 4) & 7, bytes[0] & 0xf);
        let masked = bytes[1] & 0x80 != 0;
        let (len, mut at) = match bytes[1] & 0x7f {
            126 => (u64::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 => {
                let mut len = [0u8; 8];
                len.copy_from_slice(&bytes[2..10]);
                (u64::from_be_bytes(len), 10)
            }
            short => (u64::from(short), 2),
        };
        let key = masked.then(|| {
            let key = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
            at += 4;
            key
        });
        let end = at + usize::try_from(len).expect("length fits");
        assert!(bytes.len() >= end, "truncated payload in {bytes:02x?}");
        let mut payload = bytes[at..end].to_vec();
        if let Some(key) = key {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        frames.push(WireFrame {
            fin,
            rsv,
            opcode,
            masked,
            payload,
        });
        bytes = &bytes[end..];
    }
    frames
}

/// `(opcode, unmasked payload)` of each transmitted frame.
pub fn sent_frames(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    parse_frames(bytes)
        .into_iter()
        .map(|f| (f.opcode, f.payload))
        .collect()
}

/// The code of a close frame (`None` if it has no payload). Asserts that the
/// frame is a final close frame without reserved bits and that its reason is
/// valid UTF-8.
pub fn close_code(frame: &WireFrame) -> Option<u16> {
    assert_eq!(frame.opcode, OP_CLOSE, "not a close frame: {frame:?}");
    assert!(frame.fin && frame.rsv == 0, "malformed close: {frame:?}");
    assert_ne!(frame.payload.len(), 1, "one-byte close payload");
    assert!(frame.payload.len() <= 125, "close payload over 125 bytes");
    if frame.payload.is_empty() {
        return None;
    }
    assert!(
        std::str::from_utf8(&frame.payload[2..]).is_ok(),
        "close reason is not UTF-8: {frame:?}"
    );
    Some(u16::from_be_bytes([frame.payload[0], frame.payload[1]]))
}

/// The code of the close frame that is the last transmitted frame.
pub fn sent_close_code(bytes: &[u8]) -> Option<u16> {
    let frames = parse_frames(bytes);
    close_code(frames.last().expect("a close frame was transmitted"))
}
