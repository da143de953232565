#!/usr/bin/env python3
"""One API key at LOAD times its rate, spread round robin over several gateway instances that
share one Redis store: the key's admitted requests must never exceed burst + rate x elapsed.
Paced (each client sends on a fixed schedule), bounded in time, loopback only. Exit 1 when the
bound is broken. Used by `benchmarks/store.sh shared-rate`."""
import argparse
import http.client
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("--ports", type=int, nargs="+", required=True)
parser.add_argument("--key", required=True)
parser.add_argument("--rate", type=float, required=True, help="the key's tokens per second")
parser.add_argument("--burst", type=int, required=True)
parser.add_argument("--load", type=float, default=10, help="multiple of the rate to send")
parser.add_argument("--seconds", type=float, default=20)
parser.add_argument("--clients", type=int, default=8)
args = parser.parse_args()

interval = args.clients / (args.rate * args.load)  # each client's gap between two requests
lock = threading.Lock()
counts = {}
admitted_at = []
start = time.monotonic()


def client(worker):
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for port in args.ports]
    sent = 0
    while True:
        due = start + sent * interval + worker * interval / args.clients
        if due - start >= args.seconds:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        instance = (sent + worker) % len(connections)
        try:
            connections[instance].request("GET", "/v1/x", headers={"X-API-Key": args.key})
            response = connections[instance].getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            connections[instance] = http.client.HTTPConnection("127.0.0.1", args.ports[instance], timeout=5)
            status = 0
        with lock:
            counts[(instance, status)] = counts.get((instance, status), 0) + 1
            if status == 200:
                admitted_at.append(time.monotonic())
        sent += 1


threads = [threading.Thread(target=client, args=(w,)) for w in range(args.clients)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
elapsed = time.monotonic() - start

admitted = sum(n for (_, status), n in counts.items() if status == 200)
refused = sum(n for (_, status), n in counts.items() if status == 429)
other = sum(n for (_, status), n in counts.items() if status not in (200, 429))
ceiling = args.burst + args.rate * elapsed
# The bound must hold over every window, not only the whole run: the worst prefix.
worst = max((i + 1 - (args.burst + args.rate * (t - start)) for i, t in enumerate(sorted(admitted_at))), default=0)
by_instance = {port: counts.get((i, 200), 0) for i, port in enumerate(args.ports)}
print(f"{elapsed:.1f} s, {len(args.ports)} instances, load {args.load:g}x of {args.rate:g}/s burst {args.burst}: "
      f"admitted {admitted} (ceiling {ceiling:.0f}), refused {refused}, other {other}; admitted per instance {by_instance}; "
      f"worst prefix over the bound: {worst:.1f}")
ok = admitted <= ceiling and worst <= 1 and other == 0
print("PASS" if ok else "FAIL")
raise SystemExit(0 if ok else 1)
