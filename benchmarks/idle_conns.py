#!/usr/bin/env python3
"""Idle keep-alive memory of a proxy, for benchmarks/run.sh.

Opens N client connections to 127.0.0.1:PORT, sends one GET on each and reads the whole answer
(so every connection has been through a full request, as a real keep-alive client's has), then
keeps them all open and idle. The proxy's resident memory (summed VmRSS of the given pids) is
read before, with all N idle connections, and SETTLE seconds after they were closed: the last
one shows whether the memory is given back.

usage: idle_conns.py [--tls] PORT PATH N SETTLE PID...
  --tls: the connections speak TLS (no verification; the handshake is done before the request)
prints: RESULT conns=N opened=N failed=N dropped=N before_kib=N with_kib=N after_kib=N
  failed:  connections that could not be opened or got no complete 2xx answer within 5 s
  dropped: connections the proxy had closed by the time memory was read with all of them open
"""
import resource
import select
import socket
import ssl
import sys
import time


def rss_kib(pids):
    """Summed VmRSS of the pids, in KiB (processes that are gone count 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def read_answer(sock):
    """Reads one HTTP/1.1 answer with Content-Length; returns its status code."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the body")
        body += chunk
    return status


def open_idle(port, path, count, tls):
    """Opens `count` connections, one request each; returns (open sockets, failures)."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    context = None
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    socks, failed = [], 0
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
            if context:
                s = context.wrap_socket(s)
            s.sendall(request)
            if not 200 <= read_answer(s) < 300:
                raise ConnectionError("not a 2xx")
            socks.append(s)
        except (OSError, ValueError, IndexError):
            failed += 1
            s.close()
    return socks, failed


def count_dropped(socks):
    """Connections the proxy closed while idle: readable (EOF or reset) with nothing asked."""
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN)
    return len(poller.poll(0))


def main():
    args = sys.argv[1:]
    tls = args[:1] == ["--tls"]
    if tls:
        args = args[1:]
    port, path, count, settle = int(args[0]), args[1], int(args[2]), float(args[3])
    pids = [int(p) for p in args[4:]]
    # Each connection is one fd here; the shell raised the hard limit, use all of it.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    time.sleep(0.5)
    before = rss_kib(pids)
    socks, failed = open_idle(port, path, count, tls)
    time.sleep(1)  # let the proxy finish whatever it does after the last answer
    with_conns = rss_kib(pids)
    dropped = count_dropped(socks)
    for s in socks:
        s.close()
    time.sleep(settle)
    after = rss_kib(pids)
    print(f"RESULT conns={count} opened={len(socks)} failed={failed} dropped={dropped} "
          f"before_kib={before} with_kib={with_conns} after_kib={after}")


if __name__ == "__main__":
    main()
