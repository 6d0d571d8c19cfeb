#!/usr/bin/env python3
"""Server memory after idle connections come and go, round after round.

Starts the mock-server binary on 127.0.0.1:0, then for each round opens N
connections, sends one request on each and reads the answer (so each
connection has been through hyper once; with MODE `silent`, sends
nothing), holds them all open and idle, closes them all, and reads the
server's VmRSS from /proc. Prints one line per round: RSS with the
connections open, and after they are gone.

Loopback only; every loop is bounded (N connections, R rounds, a timeout
on every socket). Needs an open-files limit above N (it raises its soft
limit to the hard one).

    crates/mock-server/scripts/idle_memory.py BINARY [N [ROUNDS [MODE]]]
    crates/mock-server/scripts/idle_memory.py target/release/mock-server 10000 5
    crates/mock-server/scripts/idle_memory.py target/release/mock-server 10000 5 silent
    MOCK_SERVER_ENV='MALLOC_ARENA_MAX=2' crates/mock-server/scripts/idle_memory.py ...
"""

import os
import resource
import selectors
import socket
import struct
import subprocess
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def open_connections(addr, n, silent, timeout=30.0):
    """n connections, each with one answered request (none if `silent`),
    all left open."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(addr, timeout=timeout)
        if not silent:
            s.sendall(REQUEST)
        socks.append(s)
    if silent:
        return socks
    sel = selectors.DefaultSelector()
    pending = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        pending[s] = b""
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            data = s.recv(4096)
            pending[s] += data
            if not data or pending[s].endswith(b"\r\n\r\nok"):
                sel.unregister(s)
                del pending[s]
    sel.close()
    if pending:
        raise RuntimeError(f"{len(pending)} answers missing")
    return socks


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    silent = len(sys.argv) > 4 and sys.argv[4] == "silent"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    env = dict(os.environ)
    for pair in os.environ.get("MOCK_SERVER_ENV", "").split():
        key, _, value = pair.partition("=")
        env[key] = value
    server = subprocess.Popen(
        [binary, "--listen", "127.0.0.1:0", "--workers", "2", "--backlog", "4096"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
    )
    try:
        line = server.stdout.readline().strip()
        host, port = line.rsplit("//", 1)[1].rsplit(":", 1)
        addr = (host, int(port))
        time.sleep(0.5)
        print(f"start: RSS {rss_kb(server.pid)} kB, {fds(server.pid)} fds")
        for r in range(1, rounds + 1):
            socks = open_connections(addr, n, silent)
            time.sleep(0.5)
            open_rss = rss_kb(server.pid)
            for s in socks:
                # RST instead of FIN: no TIME_WAIT sockets pile up on the
                # ephemeral ports round after round.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            deadline = time.monotonic() + 10
            while fds(server.pid) > 20 and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)
            print(f"round {r}: {n} open: RSS {open_rss} kB; all closed: RSS "
                  f"{rss_kb(server.pid)} kB, {fds(server.pid)} fds", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
