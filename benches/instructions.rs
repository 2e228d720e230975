//! Instructions per frame to decode masked 125-byte frames in the server
//! role: wsproto at its streaming level (`recv_in_place`) and its message
//! level (`recv` + `poll_event`), tungstenite and fastwebsockets, for binary
//! frames, ASCII text and mixed UTF-8 text.
//!
//! Instruction counts do not depend on the machine's load, frequency or
//! caches, so they compare across runs and machines where seconds do not.
//! The bench re-runs itself under `valgrind --tool=callgrind` twice per
//! case: decoding 0 frames and decoding 10,000, with the same process start
//! and the same 10,000 frames prepared in memory both times. The difference,
//! divided by 10,000, is what decoding one frame costs: reading it from an
//! in-memory transport (one memcpy per read), parsing, unmasking, validating
//! text and handing the payload to the application. Each child checks it
//! decoded every message and every payload byte, else it fails, so a broken
//! decoder cannot post a low number. The children run with glibc's
//! `rep movsb` memcpy turned off (`GLIBC_TUNABLES=glibc.cpu.hwcaps=-ERMS`),
//! because callgrind counts each byte it moves as an instruction.
//!
//! Run: `cargo bench --bench instructions` (valgrind must be installed),
//! or with a filter on the case names like criterion's:
//! `cargo bench --bench instructions -- wsproto`. Without `--bench` (as
//! `cargo test --benches` runs it) each case decodes 100 frames natively as a
//! smoke test. CI only builds it (`cargo bench --no-run`).

use std::hint::black_box;
use std::io::{Read, Write};
use std::process::{Command, ExitCode};

use wsproto::bytes::BytesMut;
use wsproto::{Config, Connection, Event, MessageKind, Role, StreamEvent};

#[path = "support/peers.rs"]
mod peers;

use peers::{Mem, block_on, masked_frames};

/// Frames decoded per measured run.
const FRAMES: usize = 10_000;
/// The largest payload with a 2-byte header (7-bit length).
const PAYLOAD: usize = 125;
/// wsproto's read size: a typical socket read buffer.
const CHUNK: usize = 64 << 10;
/// How many frames the smoke test (no `--bench`) decodes per case.
const SMOKE_FRAMES: usize = 100;

#[derive(Clone, Copy)]
enum Lib {
    /// Borrowed pieces (`recv_in_place`), dead at the next call.
    WsprotoStream,
    /// Owned messages from the caller's read buffer (`poll_event_from`).
    WsprotoOwned,
    /// Owned messages, input copied in (`recv` + `poll_event`).
    WsprotoMessage,
    /// Owned messages.
    Tungstenite,
    /// Owned frames (`read_frame`), text not validated.
    Fastwebsockets,
    /// Owned messages, text validated (`FragmentCollector`).
    FastwebsocketsCollected,
}

const LIBS: [Lib; 6] = [
    Lib::WsprotoStream,
    Lib::WsprotoOwned,
    Lib::WsprotoMessage,
    Lib::Tungstenite,
    Lib::Fastwebsockets,
    Lib::FastwebsocketsCollected,
];

impl Lib {
    fn name(self) -> &'static str {
        match self {
            Lib::WsprotoStream => "wsproto-stream",
            Lib::WsprotoOwned => "wsproto-owned",
            Lib::WsprotoMessage => "wsproto-message",
            Lib::Tungstenite => "tungstenite",
            Lib::Fastwebsockets => "fastwebsockets",
            Lib::FastwebsocketsCollected => "fastwebsockets-collected",
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Binary,
    /// ASCII text: UTF-8 validation's fast path.
    Text,
    /// Text with 2-, 3- and 4-byte characters: the slow path.
    Utf8,
}

const KINDS: [Kind; 3] = [Kind::Binary, Kind::Text, Kind::Utf8];

/// The payload of the send cases: a small message, where the work around
/// the copy is all there is.
const SEND_PAYLOAD: usize = 16;

/// A server sending binary messages: each call produces one frame's wire
/// bytes and writes them to the same transport (`Mem`, which counts them).
#[derive(Clone, Copy)]
enum Send {
    /// `send_binary_owned` of a `Vec` of its own per message (freed by the
    /// connection once copied), then one vectored write.
    WsprotoOwned,
    /// `send_binary(&[u8])` of one reused buffer, then one vectored write.
    WsprotoBorrowed,
    /// `write_frame` of `Payload::Owned`, a `Vec` of its own per message.
    FastwebsocketsOwned,
    /// `write_frame` of `Payload::BorrowedMut`, one reused buffer.
    FastwebsocketsBorrowed,
}

const SENDS: [Send; 4] = [
    Send::WsprotoOwned,
    Send::WsprotoBorrowed,
    Send::FastwebsocketsOwned,
    Send::FastwebsocketsBorrowed,
];

impl Send {
    fn name(self) -> &'static str {
        match self {
            Send::WsprotoOwned => "send16/wsproto-owned",
            Send::WsprotoBorrowed => "send16/wsproto-borrowed",
            Send::FastwebsocketsOwned => "send16/fastwebsockets-owned",
            Send::FastwebsocketsBorrowed => "send16/fastwebsockets-borrowed",
        }
    }
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Binary => "binary",
            Kind::Text => "text",
            Kind::Utf8 => "utf8",
        }
    }

    fn message_kind(self) -> MessageKind {
        match self {
            Kind::Binary => MessageKind::Binary,
            Kind::Text | Kind::Utf8 => MessageKind::Text,
        }
    }

    /// Exactly `PAYLOAD` bytes.
    fn payload(self) -> Vec<u8> {
        let pattern = match self {
            Kind::Binary => return (0..PAYLOAD).map(|i| (i * 7) as u8).collect(),
            Kind::Text => "The quick brown fox jumps over the lazy dog. ",
            Kind::Utf8 => "héllo wörld, ünïcödé — ☃ 雪 😀 ",
        };
        let mut text = String::new();
        for c in pattern.chars().cycle() {
            if text.len() + c.len_utf8() > PAYLOAD {
                break;
            }
            text.push(c);
        }
        // A character that does not fit is replaced by ASCII padding.
        while text.len() < PAYLOAD {
            text.push('.');
        }
        text.into_bytes()
    }
}

fn case_name(lib: Lib, kind: Kind) -> String {
    format!("{}/{}", kind.name(), lib.name())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("--child-send") {
        return child_send(&args[1..]);
    }
    // Like criterion: cargo bench passes `--bench`; any other argument not
    // starting with `-` filters the cases by substring.
    let bench = args.iter().any(|arg| arg == "--bench");
    let filters: Vec<&str> = args
        .iter()
        .filter(|arg| !arg.starts_with('-'))
        .map(String::as_str)
        .collect();
    let selected = |lib: Lib, kind: Kind| {
        let name = case_name(lib, kind);
        filters.is_empty() || filters.iter().any(|filter| name.contains(filter))
    };
    let send_selected = |send: Send| {
        filters.is_empty() || filters.iter().any(|filter| send.name().contains(filter))
    };
    if !bench {
        let code = smoke(&selected);
        if code != ExitCode::SUCCESS {
            return code;
        }
        for send in SENDS.into_iter().filter(|&send| send_selected(send)) {
            if let Err(error) = send_run(send, SMOKE_FRAMES, SMOKE_FRAMES) {
                eprintln!("{}: {error}", send.name());
                return ExitCode::FAILURE;
            }
            println!("{}: ok", send.name());
        }
        return ExitCode::SUCCESS;
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!(
            "instructions: valgrind is not installed; nothing measured (apt-get install valgrind)"
        );
        return ExitCode::SUCCESS;
    }
    println!(
        "Instructions per frame (callgrind), server role, {FRAMES} masked {PAYLOAD}-byte frames:"
    );
    println!(
        "{:<32} {:>12} {:>18}",
        "case", "instr/frame", "vs wsproto-stream"
    );
    for kind in KINDS {
        let mut baseline = None;
        for lib in LIBS {
            if !selected(lib, kind) {
                continue;
            }
            let args = |count: usize| {
                let args = ["--child", lib.name(), kind.name(), &count.to_string()];
                instructions(&args.map(String::from))
            };
            let per_frame = match args(FRAMES) {
                Ok(total) => match args(0) {
                    Ok(empty) => (total as f64 - empty as f64) / FRAMES as f64,
                    Err(error) => return fail(lib, kind, &error),
                },
                Err(error) => return fail(lib, kind, &error),
            };
            if matches!(lib, Lib::WsprotoStream) {
                baseline = Some(per_frame);
            }
            let ratio =
                baseline.map_or("-".to_string(), |base| format!("{:.2}x", per_frame / base));
            println!(
                "{:<32} {:>12.1} {:>18}",
                case_name(lib, kind),
                per_frame,
                ratio
            );
        }
    }
    if SENDS.into_iter().any(send_selected) {
        println!(
            "Instructions per message (callgrind), server role, {FRAMES} binary {SEND_PAYLOAD}-byte messages sent:"
        );
    }
    for send in SENDS.into_iter().filter(|&send| send_selected(send)) {
        let args = |count: usize| {
            instructions(&["--child-send", send.name(), &count.to_string()].map(String::from))
        };
        match (args(FRAMES), args(0)) {
            (Ok(total), Ok(empty)) => println!(
                "{:<32} {:>12.1}",
                send.name(),
                (total as f64 - empty as f64) / FRAMES as f64
            ),
            (Err(error), _) | (_, Err(error)) => {
                eprintln!("{}: {error}", send.name());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn fail(lib: Lib, kind: Kind, error: &str) -> ExitCode {
    eprintln!("{}: {error}", case_name(lib, kind));
    ExitCode::FAILURE
}

/// Runs this binary under callgrind with `args` (a child's) and returns
/// the instructions the whole process executed.
fn instructions(args: &[String]) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new("valgrind")
        // callgrind counts every byte `rep movsb` moves as one instruction;
        // glibc's memcpy uses it from 2 KiB on (the transport's reads). With
        // ERMS hidden those copies take the vector loop and count as the
        // work they are, not ~1 per byte (about 120 per frame here).
        .env("GLIBC_TUNABLES", "glibc.cpu.hwcaps=-ERMS")
        .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
        .arg(exe)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run valgrind: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("the child failed ({}):\n{stderr}", output.status));
    }
    // callgrind ends with "==PID== Collected : N" (the Ir total).
    stderr
        .lines()
        .find_map(|line| line.split_once("Collected :").map(|(_, n)| n.trim()))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no \"Collected :\" line in callgrind's output:\n{stderr}"))
}

/// The child: `--child LIB KIND COUNT`. Prepares `FRAMES` frames whatever
/// `COUNT` is, so the 0-frame run differs from the full one only in decoding.
fn child(args: &[String]) -> ExitCode {
    let [lib, kind, count] = args else {
        eprintln!("usage: --child LIB KIND COUNT");
        return ExitCode::FAILURE;
    };
    let lib = LIBS.into_iter().find(|l| l.name() == lib);
    let kind = KINDS.into_iter().find(|k| k.name() == kind);
    let (Some(lib), Some(kind), Ok(count)) = (lib, kind, count.parse::<usize>()) else {
        eprintln!("unknown case {args:?}");
        return ExitCode::FAILURE;
    };
    match run(lib, kind, count, FRAMES) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(lib, kind, &error),
    }
}

/// The sending child: `--child-send NAME COUNT`. Prepares `FRAMES`
/// payloads whatever `COUNT` is; the ones not sent are leaked, not freed,
/// so that the difference between runs includes each sent payload's free
/// (which the library does for an owned payload).
fn child_send(args: &[String]) -> ExitCode {
    let [name, count] = args else {
        eprintln!("usage: --child-send NAME COUNT");
        return ExitCode::FAILURE;
    };
    let send = SENDS.into_iter().find(|s| s.name() == name);
    let (Some(send), Ok(count)) = (send, count.parse::<usize>()) else {
        eprintln!("unknown case {args:?}");
        return ExitCode::FAILURE;
    };
    match send_run(send, count, FRAMES) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}: {error}", send.name());
            ExitCode::FAILURE
        }
    }
}

/// Prepares `prepared` payloads of `SEND_PAYLOAD` bytes (each a `Vec` of
/// its own), sends the first `count` as binary messages from a server, each
/// frame written out at once, and checks the bytes written.
fn send_run(send: Send, count: usize, prepared: usize) -> Result<(), String> {
    let mut payloads: Vec<Vec<u8>> = (0..prepared).map(|i| vec![i as u8; SEND_PAYLOAD]).collect();
    let mut reused = vec![7u8; SEND_PAYLOAD];
    let mut transport = Mem::new(&[]);
    let sent = payloads.drain(..count);
    match send {
        Send::WsprotoOwned | Send::WsprotoBorrowed => {
            let mut conn = Connection::new(Role::Server, Config::default());
            for payload in sent {
                if matches!(send, Send::WsprotoOwned) {
                    conn.send_binary_owned(payload)
                } else {
                    std::mem::forget(black_box(payload));
                    conn.send_binary(black_box(&reused))
                }
                .map_err(|e| e.to_string())?;
                let mut chunks = [&[][..]; 4];
                let n = conn.pending_transmit_chunks(&mut chunks);
                let slices = chunks.map(std::io::IoSlice::new);
                let written = transport
                    .write_vectored(&slices[..n])
                    .map_err(|e| e.to_string())?;
                conn.advance_transmit(written);
            }
        }
        Send::FastwebsocketsOwned | Send::FastwebsocketsBorrowed => {
            use fastwebsockets::{Frame, Payload, Role};
            let mut ws = fastwebsockets::WebSocket::after_handshake(&mut transport, Role::Server);
            for payload in sent {
                let frame = if matches!(send, Send::FastwebsocketsOwned) {
                    Frame::binary(Payload::Owned(payload))
                } else {
                    std::mem::forget(black_box(payload));
                    Frame::binary(Payload::BorrowedMut(&mut reused))
                };
                block_on(ws.write_frame(frame)).map_err(|e| e.to_string())?;
            }
        }
    }
    // The ones not sent are leaked, as a borrowed row leaks the ones it
    // did not send: only an owned row's sends free payloads.
    payloads.into_iter().for_each(std::mem::forget);
    let written = transport.written();
    if written != count * (2 + SEND_PAYLOAD) {
        return Err(format!(
            "wrote {written} bytes, expected {}",
            count * (2 + SEND_PAYLOAD)
        ));
    }
    Ok(())
}

/// Decodes 100 frames of every selected case natively and checks them.
fn smoke(selected: &dyn Fn(Lib, Kind) -> bool) -> ExitCode {
    for kind in KINDS {
        for lib in LIBS.into_iter().filter(|&lib| selected(lib, kind)) {
            if let Err(error) = run(lib, kind, SMOKE_FRAMES, SMOKE_FRAMES) {
                return fail(lib, kind, &error);
            }
            println!("{}: ok", case_name(lib, kind));
        }
    }
    ExitCode::SUCCESS
}

/// Prepares `prepared` frames, decodes the first `count` and checks that
/// exactly `count` messages of the right kind and `count * PAYLOAD` payload
/// bytes came out.
fn run(lib: Lib, kind: Kind, count: usize, prepared: usize) -> Result<(), String> {
    let payload = kind.payload();
    let wire = masked_frames(kind.message_kind(), &payload, prepared);
    let frame_len = wire.len() / prepared;
    let input = &wire[..count * frame_len];
    let (messages, bytes) = match lib {
        Lib::WsprotoStream => wsproto_stream(input, kind.message_kind())?,
        Lib::WsprotoOwned => wsproto_owned(input, kind.message_kind())?,
        Lib::WsprotoMessage => wsproto_message(input, kind.message_kind())?,
        Lib::Tungstenite => tungstenite(input, kind.message_kind(), count)?,
        Lib::Fastwebsockets => fastwebsockets(input, kind.message_kind(), count)?,
        Lib::FastwebsocketsCollected => {
            fastwebsockets_collected(input, kind.message_kind(), count)?
        }
    };
    if (messages, bytes) != (count, count * PAYLOAD) {
        return Err(format!(
            "decoded {messages} messages and {bytes} payload bytes, expected {count} and {}",
            count * PAYLOAD
        ));
    }
    Ok(())
}

/// Reads 64 KiB chunks and decodes them in place; returns (messages,
/// payload bytes).
fn wsproto_stream(input: &[u8], expected: MessageKind) -> Result<(usize, usize), String> {
    let mut conn = Connection::new(Role::Server, Config::default()).into_streaming();
    let mut transport = Mem::new(input);
    let mut buf = vec![0u8; CHUNK];
    let (mut messages, mut bytes) = (0, 0);
    loop {
        let n = transport.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        // When `recv_in_place` finds nothing it has used the whole chunk
        // (a partial header is kept inside), so the buffer is refilled from 0.
        let mut at = 0;
        loop {
            match conn.recv_in_place(&mut buf[at..n]) {
                Ok((used, Some(StreamEvent::Data { kind, payload, fin }))) if kind == expected => {
                    at += used;
                    bytes += black_box(payload).len();
                    messages += usize::from(fin);
                }
                Ok((_, None)) => break,
                Ok((_, Some(event))) => return Err(format!("unexpected event {event:?}")),
                Err(error) => return Err(error.to_string()),
            }
        }
    }
    Ok((messages, bytes))
}

/// Reads 64 KiB chunks onto a `BytesMut` and polls whole messages from it.
fn wsproto_owned(input: &[u8], expected: MessageKind) -> Result<(usize, usize), String> {
    let mut conn = Connection::new(Role::Server, Config::default());
    let mut transport = Mem::new(input);
    let mut buf = BytesMut::new();
    let (mut messages, mut bytes) = (0, 0);
    loop {
        // As tokio's `read_buf`: into the spare room, grown when nearly full.
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(CHUNK);
        }
        let room = buf.capacity() - buf.len();
        if transport.read_onto(&mut buf, room) == 0 {
            break;
        }
        while let Some(event) = conn.poll_event_from(&mut buf).map_err(|e| e.to_string())? {
            bytes += message_len(event, expected)?;
            messages += 1;
        }
    }
    Ok((messages, bytes))
}

/// The payload length of a whole message of the `expected` kind (inlined,
/// so counting does not move the event once more).
#[inline(always)]
fn message_len(event: Event, expected: MessageKind) -> Result<usize, String> {
    match (event, expected) {
        (Event::Binary(data), MessageKind::Binary) => Ok(black_box(data).len()),
        (Event::Text(text), MessageKind::Text) => Ok(black_box(text).len()),
        (event, _) => Err(format!("unexpected event {event:?}")),
    }
}

/// Reads 64 KiB chunks, feeds them to `recv` and polls whole messages.
fn wsproto_message(input: &[u8], expected: MessageKind) -> Result<(usize, usize), String> {
    let mut conn = Connection::new(Role::Server, Config::default());
    let mut transport = Mem::new(input);
    let mut buf = vec![0u8; CHUNK];
    let (mut messages, mut bytes) = (0, 0);
    loop {
        let n = transport.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        conn.recv(&buf[..n]);
        while let Some(event) = conn.poll_event().map_err(|e| e.to_string())? {
            bytes += message_len(event, expected)?;
            messages += 1;
        }
    }
    Ok((messages, bytes))
}

/// `read()` until `count` messages are in.
fn tungstenite(
    input: &[u8],
    expected: MessageKind,
    count: usize,
) -> Result<(usize, usize), String> {
    use tungstenite::{Message, protocol::Role};
    let mut ws = tungstenite::WebSocket::from_raw_socket(Mem::new(input), Role::Server, None);
    let (mut messages, mut bytes) = (0, 0);
    for _ in 0..count {
        let len = match (ws.read().map_err(|e| e.to_string())?, expected) {
            (Message::Binary(data), MessageKind::Binary) => black_box(data).len(),
            (Message::Text(text), MessageKind::Text) => black_box(text).len(),
            (message, _) => return Err(format!("unexpected message {message:?}")),
        };
        bytes += len;
        messages += 1;
    }
    // Data frames call for no reply.
    if ws.get_ref().written() != 0 {
        return Err("tungstenite wrote a reply".into());
    }
    Ok((messages, bytes))
}

/// `read_frame()` until `count` frames are in (all are final frames).
fn fastwebsockets(
    input: &[u8],
    expected: MessageKind,
    count: usize,
) -> Result<(usize, usize), String> {
    use fastwebsockets::{OpCode, Role};
    let mut ws = fastwebsockets::WebSocket::after_handshake(Mem::new(input), Role::Server);
    let (mut messages, mut bytes) = (0, 0);
    for _ in 0..count {
        let frame = block_on(ws.read_frame()).map_err(|e| e.to_string())?;
        match (frame.opcode, expected) {
            (OpCode::Binary, MessageKind::Binary) | (OpCode::Text, MessageKind::Text)
                if frame.fin => {}
            (opcode, _) => return Err(format!("unexpected frame {opcode:?}")),
        }
        bytes += black_box(&frame.payload[..]).len();
        messages += 1;
    }
    if ws.into_inner().written() != 0 {
        return Err("fastwebsockets wrote a reply".into());
    }
    Ok((messages, bytes))
}

/// `FragmentCollector::read_frame()` until `count` messages are in: whole
/// messages, text validated.
fn fastwebsockets_collected(
    input: &[u8],
    expected: MessageKind,
    count: usize,
) -> Result<(usize, usize), String> {
    use fastwebsockets::{OpCode, Role};
    let ws = fastwebsockets::WebSocket::after_handshake(Mem::new(input), Role::Server);
    let mut ws = fastwebsockets::FragmentCollector::new(ws);
    let (mut messages, mut bytes) = (0, 0);
    for _ in 0..count {
        let frame = block_on(ws.read_frame()).map_err(|e| e.to_string())?;
        match (frame.opcode, expected) {
            (OpCode::Binary, MessageKind::Binary) | (OpCode::Text, MessageKind::Text) => {}
            (opcode, _) => return Err(format!("unexpected frame {opcode:?}")),
        }
        bytes += black_box(&frame.payload[..]).len();
        messages += 1;
    }
    Ok((messages, bytes))
}
