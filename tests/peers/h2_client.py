"""An independent WebSocket-over-HTTP/2 client (RFC 8441) for the echo server.

Python's `h2` (PyPI, the HTTP/2 state machine of hyper-h2) over `ssl` with
ALPN h2, and WebSocket framing written here from RFC 6455: nothing of
wsproto or of any Rust crate. Against `echo_server --tls-cert ... --tls-key
...` (built with the `h2` feature) it checks:

- the server's SETTINGS advertise SETTINGS_ENABLE_CONNECT_PROTOCOL = 1;
- an extended CONNECT (`:protocol websocket`, version 13) gets a 200 with
  no accept key, and another `:protocol` or version gets no 2xx;
- messages of 0 B to 1 MiB, text and binary, come back exactly, through
  HTTP/2 flow control (the client's windows are left at 64 KiB, so the
  server must wait for WINDOW_UPDATEs);
- a ping gets its pong, with the same payload;
- two WebSockets on one connection, their frames interleaved, each get
  their own echoes;
- a close (1000) gets its echo, then END_STREAM.

    python3 h2_client.py HOST PORT

Exits non-zero on the first failure; every wait is bounded (TIMEOUT).
"""

import os
import socket
import ssl
import struct
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings

TIMEOUT = 10.0  # seconds, for any one read
SIZES = [0, 1, 125, 126, 65535, 65536, 200_000, 1 << 20]


def mask(payload, key):
    """XOR with the 4-byte key, fast enough for a mebibyte."""
    if not payload:
        return b""
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(len(payload), "big")


def frame(opcode, payload):
    """A client frame: FIN set, masked (RFC 6455 section 5.2)."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    key = os.urandom(4)
    return head + key + mask(payload, key)


def parse(buffer):
    """One whole server frame at the front of `buffer`, or None:
    (fin, opcode, payload, bytes used). Server frames are not masked."""
    if len(buffer) < 2:
        return None
    fin, opcode = buffer[0] & 0x80, buffer[0] & 0x0F
    if buffer[1] & 0x80:
        raise AssertionError("a server frame is masked")
    n, at = buffer[1] & 0x7F, 2
    if n == 126:
        if len(buffer) < 4:
            return None
        n, at = struct.unpack("!H", buffer[2:4])[0], 4
    elif n == 127:
        if len(buffer) < 10:
            return None
        n, at = struct.unpack("!Q", buffer[2:10])[0], 10
    if len(buffer) < at + n:
        return None
    return bool(fin), opcode, bytes(buffer[at : at + n]), at + n


class Client:
    """One HTTP/2 connection over TLS, and the WebSocket streams on it."""

    def __init__(self, host, port):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the test's own certificate
        context.set_alpn_protocols(["h2"])
        raw = socket.create_connection((host, port), timeout=TIMEOUT)
        self.sock = context.wrap_socket(raw, server_hostname=host)
        assert self.sock.selected_alpn_protocol() == "h2", self.sock.selected_alpn_protocol()
        self.authority = f"{host}:{port}"
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.flush()
        self.data = {}  # stream id -> bytearray of DATA received
        self.ended = set()  # streams the server ended (END_STREAM)
        self.responses = {}  # stream id -> response headers
        self.settings_seen = False
        while not self.settings_seen:
            self.pump()

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def pump(self):
        """Reads once from the socket and handles the events."""
        chunk = self.sock.recv(65536)
        if not chunk:
            raise AssertionError("the server closed the TCP connection")
        for event in self.conn.receive_data(chunk):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                self.settings_seen = True
            elif isinstance(event, h2.events.ResponseReceived):
                self.responses[event.stream_id] = dict(
                    (k.decode(), v.decode()) for k, v in event.headers
                )
            elif isinstance(event, h2.events.DataReceived):
                self.data.setdefault(event.stream_id, bytearray()).extend(event.data)
                # Give the window back as the data is taken in.
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self.ended.add(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                # After a complete refusal, RST_STREAM(NO_ERROR) tells the
                # client to stop sending (RFC 9113 section 8.1): fine. Any
                # other reset fails the run.
                refused = event.stream_id in self.responses and event.error_code == 0
                if not refused:
                    raise AssertionError(f"stream {event.stream_id} reset: {event.error_code!r}")
        self.flush()

    def connect(self, protocol="websocket", version="13"):
        """Sends an extended CONNECT; returns (stream id, response headers)."""
        stream = self.conn.get_next_available_stream_id()
        headers = [
            (":method", "CONNECT"),
            (":protocol", protocol),
            (":scheme", "https"),
            (":authority", self.authority),
            (":path", "/echo"),
            ("sec-websocket-version", version),
        ]
        self.conn.send_headers(stream, headers)
        self.flush()
        while stream not in self.responses:
            self.pump()
        return stream, self.responses[stream]

    def send(self, stream, data):
        """Sends `data` on `stream` as the flow control windows allow."""
        view = memoryview(data)
        while view:
            window = min(
                self.conn.local_flow_control_window(stream), self.conn.max_outbound_frame_size
            )
            if window <= 0:
                self.pump()  # wait for a WINDOW_UPDATE
                continue
            self.conn.send_data(stream, bytes(view[:window]))
            self.flush()
            view = view[window:]

    def frame(self, stream):
        """The next whole WebSocket frame the server sent on `stream`."""
        while True:
            got = parse(self.data.setdefault(stream, bytearray()))
            if got is not None:
                fin, opcode, payload, used = got
                del self.data[stream][:used]
                return fin, opcode, payload
            if stream in self.ended:
                raise AssertionError(f"stream {stream} ended in the middle of a frame")
            self.pump()

    def message(self, stream):
        """The next whole message (fragments joined): (opcode, payload)."""
        fin, opcode, payload = self.frame(stream)
        while not fin:
            fin, continuation, more = self.frame(stream)
            assert continuation == 0, f"opcode {continuation} inside a message"
            payload += more
        return opcode, payload


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL - {name} {detail}")
        sys.exit(1)
    print(f"ok - {name}")


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    client = Client(host, port)
    enabled = client.conn.remote_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
    check("the server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL = 1", enabled == 1, enabled)

    stream, response = client.connect()
    check("an extended CONNECT gets a 200", response.get(":status") == "200", response)
    check("with no accept key", "sec-websocket-accept" not in response, response)
    for size in SIZES:
        text = ("é" * (size // 2) + "x" * (size % 2)).encode()
        binary = os.urandom(size)
        for opcode, payload in ((0x1, text), (0x2, binary)):
            client.send(stream, frame(opcode, payload))
            echoed = client.message(stream)
            check(f"{len(payload)} bytes ({'text' if opcode == 1 else 'binary'}) come back exactly",
                  echoed == (opcode, payload), f"got opcode {echoed[0]}, {len(echoed[1])} bytes")
    client.send(stream, frame(0x9, b"ping payload"))
    check("a ping gets its pong", client.message(stream) == (0xA, b"ping payload"))

    # Two WebSockets on one connection, frames interleaved.
    other, response = client.connect()
    check("a second WebSocket on the same connection", response.get(":status") == "200")
    for i in range(5):
        client.send(stream, frame(0x1, f"first {i}".encode()))
        client.send(other, frame(0x1, f"second {i}".encode()))
    for i in range(5):
        a, b = client.message(stream), client.message(other)
        check(f"interleaved echo {i} on each stream",
              a == (1, f"first {i}".encode()) and b == (1, f"second {i}".encode()), (a, b))

    # Refusals on the same connection: no 2xx.
    for protocol, version, status in (("webtransport", "13", "400"), ("websocket", "8", "426")):
        refused, response = client.connect(protocol, version)
        check(f":protocol {protocol}, version {version} is refused with {status}",
              response.get(":status") == status, response)

    # The closing handshake, then END_STREAM, on each WebSocket.
    for s in (stream, other):
        client.send(s, frame(0x8, struct.pack("!H", 1000) + b"bye"))
        opcode, payload = client.message(s)
        check(f"stream {s}: the close is echoed with 1000",
              opcode == 0x8 and payload[:2] == struct.pack("!H", 1000), (opcode, payload))
        while s not in client.ended:
            client.pump()
        check(f"stream {s}: then END_STREAM", not client.data.get(s))
    print("python h2 client: all passed")


if __name__ == "__main__":
    main()
