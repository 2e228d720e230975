#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/seeds/: valid handshakes, the RFC 6455
example frames, fragmented messages and close frames, each behind the two
setup bytes the targets read (see fuzz/src/input.rs: flags, largest chunk);
and for the deflate target, the RFC 7692 examples, fragmented compressed
messages, bombs and invalid data, behind its three setup bytes (see
fuzz/src/deflate.rs); and for the driver target, both kinds behind its
four setup bytes (see fuzz/src/driver.rs).

Run from the repository root: python3 scripts/fuzz_seeds.py
The output is committed; rerun only to change the seeds. The `cmin-*` files
next to them are the minimised corpora of long runs (`cargo fuzz cmin`),
not written here.
"""
import base64
import hashlib
import os
import random
import struct
import zlib

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RFC_MASK = bytes([0x37, 0xFA, 0x21, 0x3D])
# Flags: 1 small limits, 2 auto pong off, 4 end of stream after the input.
SETUPS = [(0, 0), (0, 1), (0, 5), (1, 3), (4, 0), (2, 9)]


def frame(opcode, payload, fin=True, mask=None, rsv=0):
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if mask:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


def close(code, reason=b""):
    return struct.pack(">H", code) + reason


def streams(mask):
    """Named byte streams for a decoder whose peer masks with `mask`."""
    f = lambda *a, **k: frame(*a, mask=mask, **k)
    euro = "€".encode()
    return {
        "rfc-text-hello": f(0x1, b"Hello"),
        "rfc-fragmented-hello": f(0x1, b"Hel", fin=False) + f(0x0, b"lo"),
        "rfc-ping-pong": f(0x9, b"Hello") + f(0xA, b"Hello"),
        "rfc-binary-256": f(0x2, bytes(range(256))),
        "fragmented-with-ping": f(0x1, b"a" + euro[:1], fin=False)
        + f(0x9, b"between")
        + f(0x0, euro[1:], fin=False)
        + f(0x0, b"", fin=True),
        "empty-messages": f(0x1, b"") + f(0x2, b"") + f(0x9, b""),
        "close-normal": f(0x2, b"\x00\xff") + f(0x8, close(1000, b"bye")),
        "close-empty": f(0x8, b""),
        "close-invalid-code": f(0x8, close(1005)),
        "invalid-utf8": f(0x1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"),
        "reserved-opcode": f(0x3, b"x"),
        "rsv1": f(0x1, b"x", rsv=4),
        "long-16bit-header": f(0x2, b"\x01" * 300),
        "continuation-first": f(0x0, b"x"),
    }


def http_head(lines):
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def requests():
    base = [
        "GET /chat HTTP/1.1",
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Origin: http://example.com",
        "Sec-WebSocket-Protocol: chat, superchat",
        "Sec-WebSocket-Version: 13",
    ]
    browser = [
        "GET /ws?room=1 HTTP/1.1",
        "host: 127.0.0.1:9001",
        "connection: keep-alive, Upgrade",
        "pragma: no-cache",
        "upgrade: WebSocket",
        "user-agent: Mozilla/5.0",
        "sec-websocket-version: 13",
        "sec-websocket-key: x3JJHMbDL1EzLkh9GBhXDw==",
        "sec-websocket-extensions: permessage-deflate; client_max_window_bits",
        "cookie: a=b; c=d",
    ]
    masked_hello = frame(0x1, b"Hello", mask=RFC_MASK)
    return {
        "rfc-request": http_head(base),
        "browser-request": http_head(browser),
        "request-then-frame": http_head(base) + masked_hello,
        "wrong-version": http_head(base[:-1] + ["Sec-WebSocket-Version: 8"]),
        "post": http_head(["POST /chat HTTP/1.1"] + base[1:]),
        "http10": http_head(["GET /chat HTTP/1.0"] + base[1:]),
    }


def switching():
    """The lines of a 101 that accepts the targets' client request."""
    key = base64.b64encode(bytes(16))  # the targets' client uses a zero nonce
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    return [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Accept: " + accept,
    ]


def responses():
    ok = switching()
    hello = frame(0x1, b"Hello")
    return {
        "switching": http_head(ok),
        "switching-protocol": http_head(ok + ["Sec-WebSocket-Protocol: chat"]),
        "switching-extension": http_head(ok + ["Sec-WebSocket-Extensions: x-test; a=1"]),
        "switching-then-frames": http_head(ok) + hello + frame(0x8, close(1000)),
        "interim-then-switching": http_head(["HTTP/1.1 100 Continue"]) + http_head(ok),
        "forbidden": http_head(["HTTP/1.1 403 Forbidden", "Content-Length: 2"]) + b"no",
        "upgrade-required": http_head(["HTTP/1.1 426 Upgrade Required", "Sec-WebSocket-Version: 13"]),
        "wrong-accept": http_head(ok[:-1] + ["Sec-WebSocket-Accept: AAAA"]),
    }


# The RFC 7692 section 7.2.3 payloads.
HELLO = bytes.fromhex("f248cdc9c90700")  # "Hello"
HELLO_AGAIN = bytes.fromhex("f200110000")  # "Hello" again, from the window
HELLO_STORED = bytes.fromhex("000500faff48656c6c6f00")  # a stored block
HELLO_FINAL = bytes.fromhex("f348cdc9c9070000")  # BFINAL set, a byte after
EMPTY = b"\x00"  # an empty message (section 7.2.3.6)


def deflate(data, bits=15, level=9):
    """Raw DEFLATE as a permessage-deflate sender makes it: a sync flush
    with its 00 00 ff ff tail stripped."""
    c = zlib.compressobj(level, zlib.DEFLATED, -max(bits, 9))
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def deflate_streams(mask):
    """Raw frames with compressed payloads, for a connection whose peer
    masks with `mask`."""
    f = lambda *a, **k: frame(*a, mask=mask, **k)
    z = lambda *a, **k: frame(*a, mask=mask, rsv=4, **k)
    bomb = deflate(bytes(1 << 20))  # 1 MiB of zeros in about 1 KiB
    return {
        "rfc-hello": z(0x1, HELLO),
        "rfc-hello-takeover": z(0x1, HELLO) + z(0x1, HELLO_AGAIN),
        "rfc-stored": z(0x1, HELLO_STORED) + z(0x2, HELLO_AGAIN),
        "rfc-bfinal": z(0x1, HELLO_FINAL) + z(0x1, HELLO),
        "empty": z(0x1, EMPTY) + z(0x2, EMPTY) + z(0x1, HELLO),
        "fragmented": z(0x1, HELLO[:3], fin=False)
        + f(0x9, b"ping")
        + f(0x0, HELLO[3:5], fin=False)
        + f(0x0, HELLO[5:]),
        "uncompressed-between": z(0x1, HELLO) + f(0x1, b"plain") + z(0x1, HELLO_AGAIN),
        "tail-kept": z(0x2, HELLO + b"\x00\x00\xff\xff"),
        "bomb-binary": z(0x2, bomb),
        "bomb-text": z(0x1, deflate(b"a" * 100000)),
        "bomb-fragments": z(0x2, bomb[:100], fin=False) + f(0x0, bomb[100:]),
        "invalid-binary": z(0x2, b"\xff\xff\xff"),
        "invalid-text": z(0x1, b"\xff\xff\xff"),
        "invalid-utf8": z(0x1, deflate(b"ok \xed\xa0\x80")),
        "window-9": z(0x2, deflate(bytes(range(256)) * 3, bits=9)),
        "rsv1-continuation": z(0x1, HELLO[:3], fin=False) + frame(0x0, HELLO[3:], mask=mask, rsv=4),
        "rsv1-ping": frame(0x9, b"x", mask=mask, rsv=4),
    }


def deflate_scripts():
    """Structured bodies for the deflate target (fuzz/src/deflate.rs): an
    op byte, a length, maybe a cut seed, then the bytes."""

    def message(data, compressed=True, text=False, fragments=1, pings=False, plain=False):
        c = (0 if compressed else 1) | (4 if text else 0) | ((fragments - 1) << 3)
        c |= (0x20 if pings else 0) | (0x80 if plain else 0)
        if len(data) > 255:
            c |= 0x40
            head = bytes([c, len(data) & 0xFF, len(data) >> 8])
        else:
            head = bytes([c, len(data)])
        if fragments > 1:
            head += bytes([len(data) * 7 % 251])
        return head + data

    ping = b"\x02\x04ping"
    close = b"\x06"
    text = b"the quick brown fox jumps over the lazy dog; " * 8
    return {
        "s-rfc-hello": message(HELLO, text=True) + message(HELLO_AGAIN, text=True),
        "s-rfc-stored-bfinal": message(HELLO_STORED) + message(HELLO_FINAL) + message(HELLO),
        "s-fragmented": message(HELLO, text=True, fragments=4, pings=True) + ping + close,
        "s-compress-plain": message(b"Hello Hello Hello", plain=True, text=True)
        + message(b"Hello Hello Hello", plain=True, text=True)
        + message(text, plain=True, fragments=3),
        "s-mixed": message(b"plain text", compressed=False, text=True)
        + message(HELLO, text=True)
        + message(EMPTY)
        + message(b"", plain=True),
        "s-bomb": message(deflate(bytes(1 << 20))),
        "s-bomb-fragments": message(deflate(b"b" * 50000), fragments=4, text=True),
        "s-invalid": message(HELLO) + message(b"\xff\xff", text=True),
        "s-raw": message(HELLO) + b"\x03\x03\xc1\x00\x00" + message(HELLO),
    }


# Deflate setups: byte 0 (flags, see fuzz/src/deflate.rs), largest chunk, window bits
# and level. 0x77: 15-bit windows both ways, level 6.
DEFLATE_SETUPS = [
    (0x00, 0, 0x77),  # default limits, whole
    (0x01, 5, 0x77),  # small limits, 5-byte chunks
    (0x80 | 0x04, 3, 0x7F),  # 40,000-byte messages, end of stream, level 1
    (0x20 | 0x40, 64, 0x10),  # no context takeover both ways, 9 and 8 bits
]
ROLE_CLIENT, STRUCTURED = 0x08, 0x10


def write_deflate():
    out = os.path.join("fuzz", "seeds", "deflate")
    os.makedirs(out, exist_ok=True)
    named = []
    for role, mask in [("server", RFC_MASK), ("client", None)]:
        role_flag = ROLE_CLIENT if role == "client" else 0
        for name, stream in deflate_streams(mask).items():
            named.append((f"{name}-{role}", role_flag, stream))
        for name, body in deflate_scripts().items():
            named.append((f"{name}-{role}", role_flag | STRUCTURED, body))
    for name, flags, body in named:
        for setup, (extra, chunk, bits) in enumerate(DEFLATE_SETUPS):
            with open(os.path.join(out, f"{name}-{setup}"), "wb") as f:
                f.write(bytes([flags | extra, chunk, bits]) + body)


# The driver target (fuzz/src/driver.rs): flags (1 small limits, 2 client,
# 4 end of stream, 8 memory budget, 16 permessage-deflate, 32 spurious
# not-ready), largest read, largest write, seed.
DRIVER_SETUPS = [(0, 0, 0, 0), (1, 1, 1, 7), (4, 3, 5, 1), (9, 2, 0, 3), (32, 7, 2, 9), (36, 1, 1, 5)]


def write_driver():
    out = os.path.join("fuzz", "seeds", "driver")
    os.makedirs(out, exist_ok=True)
    for role, mask, role_flag in [("server", RFC_MASK, 0), ("client", None, 2)]:
        named = [(name, 0, stream) for name, stream in streams(mask).items()]
        named += [(name, 16, stream) for name, stream in deflate_streams(mask).items()]
        for name, extra, stream in named:
            for i, (flags, read, write, seed) in enumerate(DRIVER_SETUPS):
                path = os.path.join(out, f"{name}-{role}-{i}")
                with open(path, "wb") as f:
                    f.write(bytes([flags | role_flag | extra, read, write, seed]) + stream)


# Byte 0 bits 3 and 4 turn permessage-deflate on for the handshake targets
# (see fuzz/src/negotiation.rs): the defaults, bounded windows and
# takeover, or both.
NEGOTIATION_SETUPS = [(8, 0), (24, 3), (16, 0), (9, 5)]


def offers():
    """Requests offering permessage-deflate, valid and not, for the
    server_handshake target with deflate on."""
    lines = [
        "GET /chat HTTP/1.1",
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    named = {
        "bare": "permessage-deflate",
        "hint": "permessage-deflate; client_max_window_bits",
        "all": "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9; "
        "server_no_context_takeover; client_no_context_takeover",
        "fallback": "permessage-deflate; server_max_window_bits=16, permessage-deflate",
        "mixed": "x-test, permessage-deflate; client_max_window_bits=8",
        "unknown": "permessage-deflate; unknown=1",
        "quoted": 'permessage-deflate; client_max_window_bits="10"',
    }
    seeds = {
        f"deflate-offer-{name}": http_head(lines + ["Sec-WebSocket-Extensions: " + offer])
        for name, offer in named.items()
    }
    seeds["deflate-offer-then-frame"] = seeds["deflate-offer-hint"] + frame(
        0x1, HELLO, mask=RFC_MASK, rsv=4
    )
    return seeds


def answers():
    """Responses answering the client's permessage-deflate offer, valid and
    not, for the client_response target with deflate on."""
    ok = switching()
    named = {
        "bare": "permessage-deflate",
        "no-takeover": "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        "windows": "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10",
        "server-15": "permessage-deflate; server_max_window_bits=15",
        "hint-without-value": "permessage-deflate; client_max_window_bits",
        "twice": "permessage-deflate, permessage-deflate",
        "with-test": "x-test, permessage-deflate; server_max_window_bits=9",
    }
    seeds = {
        f"deflate-answer-{name}": http_head(ok + ["Sec-WebSocket-Extensions: " + answer])
        for name, answer in named.items()
    }
    seeds["deflate-answer-then-frame"] = seeds["deflate-answer-bare"] + frame(0x1, HELLO, rsv=4)
    return seeds


def write(target, named, setups=None):
    out = os.path.join("fuzz", "seeds", target)
    os.makedirs(out, exist_ok=True)
    for name, stream in named.items():
        for flags, chunk in setups or SETUPS:
            path = os.path.join(out, f"{name}-{flags}-{chunk}")
            with open(path, "wb") as f:
                f.write(bytes([flags, chunk]) + stream)


def main():
    write("decode_server", streams(RFC_MASK))
    write("decode_client", streams(None))
    write("server_handshake", requests())
    write("client_response", responses())
    write("server_handshake", offers(), NEGOTIATION_SETUPS)
    write("client_response", answers(), NEGOTIATION_SETUPS)
    write_deflate()
    write_driver()
    # The pair target reads an `Arbitrary` script: random bytes decode into
    # varied scripts, and libFuzzer finds the structure from there.
    rng = random.Random(6455)
    out = os.path.join("fuzz", "seeds", "pair")
    os.makedirs(out, exist_ok=True)
    for i in range(16):
        size = rng.choice([64, 256, 1024, 4096])
        with open(os.path.join(out, f"random-{i:02}"), "wb") as f:
            f.write(bytes(rng.randrange(256) for _ in range(size)))


if __name__ == "__main__":
    main()
