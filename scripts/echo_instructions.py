#!/usr/bin/env python3
"""User-space instructions per echo on the echo bench's server thread, by
callgrind: a figure that does not move with the machine's load, beside the
messages/s of `cargo bench -p wsproto-tokio --bench driver_echo`.

    scripts/echo_instructions.py                  # 100conns/20B and 100conns/512B, all three servers
    scripts/echo_instructions.py 500conns/20B     # rows (names as in the bench)

For each row and server it runs the bench binary once under
`valgrind --tool=callgrind --separate-threads=yes` (3 s window) and reads
the server thread's profile (the thread with the most instructions):

- "echo task": the instructions inside the connection's echo loop (the
  task's future: the library's receive, send and the tokio I/O calls it
  makes), per echo;
- "thread": everything the server thread ran (the runtime's scheduler and
  epoll handling too, and the connections' handshakes, amortised), per
  echo.

Echoes are counted as the server thread's socket writes (`send`,
`writev`: one per echo in the many-connection rows, where each connection
has one message in flight; the handshakes add one per connection).
Instructions, not time: the kernel's share (most of a small echo on
loopback) is not counted, and valgrind serialises the threads, so the
runtime's batching differs from a real run. tokio-tungstenite's count is
mostly the `memset` of its read buffer, which callgrind counts per byte
(`rep stosb`): not comparable with the other two. Needs valgrind.
"""

import glob
import os
import re
import subprocess
import sys
import tempfile

SERVERS = ["wsproto-tokio", "tokio-tungstenite", "fastwebsockets"]
# The C library's socket writes, as callgrind names them: one per echo.
WRITE_CALLS = {"send", "__send", "__libc_send", "writev", "__writev", "sendmsg", "__libc_sendmsg"}
DEFAULT_ROWS = ["100conns/20B", "100conns/512B"]


def bench_binary():
    """Builds the bench and returns its executable's path."""
    out = subprocess.run(
        ["cargo", "bench", "-p", "wsproto-tokio", "--bench", "driver_echo", "--no-run"],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"Executable .*\((.*driver_echo-[0-9a-f]+)\)", out.stderr)
    if not found:
        sys.exit("cannot find the driver_echo executable in cargo's output")
    return os.path.abspath(found.group(1))


def measure(binary, row, server):
    """(echoes, thread instructions, echo task instructions) for one run."""
    with tempfile.TemporaryDirectory() as out_dir:
        env = dict(os.environ, ECHO_ROUNDS="1", ECHO_SECS="3")
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--separate-threads=yes",
                "--dump-instr=no",
                binary,
                "--bench",
                f"{row}/{server}",
            ],
            cwd=out_dir,
            env=env,
            capture_output=True,
            check=True,
        )
        profiles = []
        for path in glob.glob(os.path.join(out_dir, "callgrind.out.*-*")):
            with open(path) as f:
                text = f.read()
            total = int(re.search(r"^summary: (\d+)", text, re.M).group(1))
            profiles.append((total, text))
    total, text = max(profiles)
    names = {}
    for found in re.finditer(r"^c?fn=\((\d+)\)(?: (.*))?$", text, re.M):
        if found.group(2):
            names[found.group(1)] = found.group(2)
    echoes = task = 0
    lines = text.split("\n")
    for i, line in enumerate(lines):
        called = re.match(r"cfn=\((\d+)\)", line)
        if not called:
            continue
        name = names.get(called.group(1), "")
        calls = re.match(r"calls=(\d+)", lines[i + 1])
        if not calls:
            continue
        cost = int(lines[i + 2].split()[1])
        if name in WRITE_CALLS:
            echoes += int(calls.group(1))
        if re.search(r"support::\w+_echo::\{\{closure\}\}$", name):
            task += cost
    return echoes, total, task


def main():
    rows = sys.argv[1:] or DEFAULT_ROWS
    binary = bench_binary()
    print(f"{'row':<16} {'server':<18} {'echoes':>8} {'echo task':>10} {'thread':>8}")
    for row in rows:
        for server in SERVERS:
            echoes, total, task = measure(binary, row, server)
            if echoes == 0:
                print(f"{row:<16} {server:<18} no echoes counted")
                continue
            print(
                f"{row:<16} {server:<18} {echoes:>8} {task / echoes:>10.0f} {total / echoes:>8.0f}"
            )
    print("instructions per echo (user space, server thread); lower is better")


if __name__ == "__main__":
    main()
