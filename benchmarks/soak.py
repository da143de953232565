#!/usr/bin/env python3
"""Mixed-traffic soak against a running gateway (driven by benchmarks/soak.sh).

Traffic classes, each in its own threads and paced so the load stays bounded on a shared machine:
  valid      keep-alive GETs and POSTs with a generous key (200/201)
  ratelimit  a key on a tight plan, hammered (mostly 429)
  replay     POSTs with Idempotency-Key from a small rotating pool (first 201, then replays)
  garbage    malformed requests and random bytes on fresh connections (400/431/close)
  slow       slowloris heads and stalled bodies (408 from the gateway's timeouts)
  slowread   large downloads that are never read (cut off by send_timeout)
  faults     upstream failure switches: reset, close, half, stall, html502, 503 (502/503/504)
Every SAMPLE_S seconds the gateway's RSS (VmRSS) and descriptor count are sampled. After the warm-up
(the first 20 %) a least-squares line is fitted to each; the run fails when the RSS slope extrapolates
to more than RSS_LIMIT_MIB per 10 minutes or the descriptor slope to more than FD_LIMIT per 10 minutes.
"""
import collections, json, os, random, socket, sys, threading, time

port, pid, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
good_key, tight_key, out_path = sys.argv[4], sys.argv[5], sys.argv[6]
SAMPLE_S = float(os.environ.get("SAMPLE_S", "5"))
RSS_LIMIT_MIB = float(os.environ.get("RSS_LIMIT_MIB", "2"))
FD_LIMIT = float(os.environ.get("FD_LIMIT", "5"))
WARMUP = 0.2

stop_at = time.time() + seconds
lock = threading.Lock()
counts = collections.defaultdict(collections.Counter)  # class -> outcome -> n


def count(cls, outcome):
    with lock:
        counts[cls][str(outcome)] += 1


def running():
    return time.time() < stop_at


def connect(timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Conn:
    """Minimal HTTP/1.1 client: Content-Length and chunked responses, keep-alive."""

    def __init__(self, timeout=5.0):
        self.s = connect(timeout)
        self.buf = b""

    def _fill(self):
        data = self.s.recv(65536)
        if not data:
            raise ConnectionError("closed")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def request(self, raw):
        self.s.sendall(raw)
        status = int(self._line().split(b" ")[1])
        headers = {}
        while True:
            line = self._line()
            if not line:
                break
            k, _, v = line.partition(b":")
            headers[k.strip().lower()] = v.strip().lower()
        if headers.get(b"transfer-encoding") == b"chunked":
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                self._take(size + 2)
        else:
            self._take(int(headers.get(b"content-length", b"0")))
        return status, headers.get(b"connection") != b"close"

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def keyed_loop(cls, make_request, interval):
    conn = None
    while running():
        try:
            if conn is None:
                conn = Conn()
            status, keep = conn.request(make_request())
            count(cls, status)
            if not keep:
                conn.close()
                conn = None
        except Exception as e:  # noqa: BLE001 - every failure is an outcome to count
            count(cls, type(e).__name__)
            if conn:
                conn.close()
            conn = None
        time.sleep(interval)
    if conn:
        conn.close()


def valid():
    n = [0]

    def make():
        n[0] += 1
        if n[0] % 3 == 0:
            body = b'{"to":"+15550100","text":"hi"}'
            return (b"POST /v1/messages/text HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer " + good_key.encode()
                    + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        return b"GET /v1/sessions/s%d HTTP/1.1\r\nHost: soak\r\nX-API-Key: %s\r\n\r\n" % (n[0] % 100, good_key.encode())
    keyed_loop("valid", make, 0.004)


def ratelimit():
    keyed_loop("ratelimit", lambda: b"GET /v1/sessions/tight HTTP/1.1\r\nHost: soak\r\nX-API-Key: %s\r\n\r\n" % tight_key.encode(), 0.02)


def replay():
    n = [0]

    def make():
        n[0] += 1
        key = "soak-%d-%d" % (int(time.time() // 60), n[0] % 40)  # 40 keys a minute, each sent ~repeatedly
        body = b'{"to":"+15550100","text":"%s"}' % key.encode()
        return (b"POST /v1/messages/text HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer " + good_key.encode()
                + b"\r\nIdempotency-Key: " + key.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body)
    keyed_loop("replay", make, 0.02)


GARBAGE = [
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST /v1/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\nab",
    b"GET /v1/x HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
    b"GET /v1/x HTTP/1.1\nHost: a\n\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"GET http://evil/ HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /v1/x HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
    b"POST /v1/upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /v1/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
]


def garbage():
    while running():
        try:
            s = connect(3)
            payload = random.choice(GARBAGE) if random.random() < 0.8 else os.urandom(random.randint(1, 3000))
            s.sendall(payload)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            count("garbage", data[9:12].decode(errors="replace") if data.startswith(b"HTTP/1.1 ") else "closed")
        except Exception as e:  # noqa: BLE001
            count("garbage", type(e).__name__)
        time.sleep(0.01)


def slow():
    while running():
        try:
            s = connect(10)
            if random.random() < 0.5:
                s.sendall(b"GET /v1/sessions/slow HTTP/1.1\r\nHo")  # never finishes the head
            else:
                s.sendall(b"POST /v1/upload HTTP/1.1\r\nHost: a\r\nX-API-Key: " + good_key.encode()
                          + b"\r\nContent-Length: 1000\r\n\r\nabc")  # never finishes the body
            data = s.recv(65536)
            s.close()
            count("slow", data[9:12].decode(errors="replace") if data.startswith(b"HTTP/1.1 ") else "closed")
        except Exception as e:  # noqa: BLE001
            count("slow", type(e).__name__)


def slowread():
    while running():
        try:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            s.settimeout(10)
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /v1/bytes/200000000 HTTP/1.1\r\nHost: a\r\nX-API-Key: " + good_key.encode() + b"\r\n\r\n")
            time.sleep(4)  # read nothing: send_timeout (2 s) cuts the connection
            total = 0
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
            s.close()
            count("slowread", "cut" if total < 200000000 else "complete")
        except Exception as e:  # noqa: BLE001
            count("slowread", type(e).__name__)


FAULTS = ["reset", "close", "half", "stall", "html502", "503", "truncated_json", "oversized"]


def faults():
    n = [0]

    def make():
        n[0] += 1
        mode = FAULTS[n[0] % len(FAULTS)]
        method = b"POST" if n[0] % 5 == 0 else b"GET"
        body = b"" if method == b"GET" else b"{}"
        return (method + b" /v1/sessions/f?fail=" + mode.encode() + b" HTTP/1.1\r\nHost: a\r\nX-API-Key: " + good_key.encode()
                + (b"\r\nContent-Length: 2" if body else b"") + b"\r\n\r\n" + body)
    keyed_loop("faults", make, 0.05)


samples = []  # (t, rss KiB, fds)


def sample():
    start = time.time()
    while True:
        try:
            with open(f"/proc/{pid}/status") as f:
                rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except (OSError, StopIteration):
            samples.append((time.time() - start, -1, -1))
            return
        samples.append((time.time() - start, rss, fds))
        if not running():
            return
        time.sleep(min(SAMPLE_S, max(0.0, stop_at - time.time())) or SAMPLE_S)


threads = [threading.Thread(target=f, daemon=True) for f in
           [valid, valid, ratelimit, replay, garbage, slow, slow, slow, slowread, faults, faults]]
sampler = threading.Thread(target=sample)
for t in threads:
    t.start()
sampler.start()
sampler.join()
# Let in-flight work finish (slow clients hold up to the gateway's timeouts), then sample once more at rest.
for t in threads:
    t.join(timeout=15)
time.sleep(3)
try:
    with open(f"/proc/{pid}/status") as f:
        rest_rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    rest_fds = len(os.listdir(f"/proc/{pid}/fd"))
except (OSError, StopIteration):
    rest_rss, rest_fds = -1, -1


def slope(points):
    n = len(points)
    if n < 3:
        return float("nan")
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    den = sum((p[0] - mx) ** 2 for p in points)
    return sum((p[0] - mx) * (p[1] - my) for p in points) / den if den else float("nan")


alive = all(s[1] > 0 for s in samples)
after = [s for s in samples if s[0] >= WARMUP * seconds and s[1] > 0]
rss_slope = slope([(t, r / 1024) for t, r, _ in after]) * 600  # MiB per 10 min
fd_slope = slope([(t, f) for t, _, f in after]) * 600  # fds per 10 min
failures = []
if not alive:
    failures.append("the gateway died during the soak")
if not rss_slope <= RSS_LIMIT_MIB:
    failures.append(f"RSS slope {rss_slope:.2f} MiB/10 min > {RSS_LIMIT_MIB}")
if not fd_slope <= FD_LIMIT:
    failures.append(f"descriptor slope {fd_slope:.2f}/10 min > {FD_LIMIT}")
bad = counts["valid"].total() - counts["valid"]["200"] - counts["valid"]["201"]
if bad > 0:
    failures.append(f"{bad} valid requests did not succeed: {dict(counts['valid'])}")

warm = after[0] if after else (0, -1, -1)
lines = [
    "| metric | value |",
    "|---|---|",
    f"| duration | {seconds:.0f} s ({len(samples)} samples every {SAMPLE_S:.0f} s, warm-up {WARMUP * seconds:.0f} s) |",
]
for cls in ["valid", "ratelimit", "replay", "garbage", "slow", "slowread", "faults"]:
    c = counts[cls]
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]))
    lines.append(f"| requests {cls} | {c.total()} ({detail}) |")
total = sum(c.total() for c in counts.values())
lines.append(f"| requests total | {total} ({total / seconds:.0f}/s) |")
lines.append(f"| RSS start / after warm-up / end / at rest | {samples[0][1] / 1024:.1f} / {warm[1] / 1024:.1f} / "
             f"{samples[-1][1] / 1024:.1f} / {rest_rss / 1024:.1f} MiB |")
lines.append(f"| RSS slope after warm-up | {rss_slope:+.2f} MiB per 10 min (limit {RSS_LIMIT_MIB}) |")
lines.append(f"| fds start / after warm-up / end / at rest | {samples[0][2]} / {warm[2]} / {samples[-1][2]} / {rest_fds} |")
lines.append(f"| fd slope after warm-up | {fd_slope:+.2f} per 10 min (limit {FD_LIMIT}) |")
lines.append(f"| verdict | {'PASS' if not failures else 'FAIL: ' + '; '.join(failures)} |")
table = "\n".join(lines)
print(table)
with open(out_path, "w") as f:
    f.write(table + "\n\nsamples (s, RSS KiB, fds):\n")
    f.write(json.dumps(samples) + "\n")
sys.exit(1 if failures else 0)
