#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/seeds/: valid handshakes, the RFC 6455
example frames, fragmented messages and close frames, each behind the two
setup bytes the targets read (see fuzz/src/input.rs: flags, largest chunk).

Run from the repository root: python3 scripts/fuzz_seeds.py
The output is committed; rerun only to change the seeds.
"""
import base64
import hashlib
import os
import random
import struct

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


def responses():
    key = base64.b64encode(bytes(16))  # the targets' client uses a zero nonce
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
    ok = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Accept: " + accept,
    ]
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


def write(target, named):
    out = os.path.join("fuzz", "seeds", target)
    os.makedirs(out, exist_ok=True)
    for name, stream in named.items():
        for flags, chunk in SETUPS:
            path = os.path.join(out, f"{name}-{flags}-{chunk}")
            with open(path, "wb") as f:
                f.write(bytes([flags, chunk]) + stream)


def main():
    write("decode_server", streams(RFC_MASK))
    write("decode_client", streams(None))
    write("server_handshake", requests())
    write("client_response", responses())
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
