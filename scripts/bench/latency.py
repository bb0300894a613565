#!/usr/bin/env python3
"""Delivery latency of a paced stream of timestamped messages over ONE TCP connection.

server:  latency.py server --port 9300 --out FILE.json [--delay-ms 25] [--cdf FILE.dat]
client:  latency.py client --to 10.2.0.2 --port 9300 --rate 1000 --size 200 --seconds 15 [--cc cubic]

The client sends `rate` messages a second, each `size` bytes: an 8-byte sequence number and the
send time (time.time(), CLOCK_REALTIME, as a double) in its first 16 bytes. TCP_NODELAY is set so
each message leaves at once. Messages are stamped when written, not when due, so a sender that fell
behind (the machine, not the path) does not count as path latency.

The server (on the same machine, in another network namespace: one clock) stamps each message when
its last byte is read (--skip N leaves out the first N, the connection's start-up) and, at the end
of the connection, writes one JSON object: the count, the one-way latency percentiles in ms (p50, p90, p99, p99.9, max, min, mean) and the same minus
--delay-ms (the emulated one-way delay), and optionally a CDF file for gnuplot (latency_ms fraction,
thinned to at most 2,000 points plus the whole tail above p99).
"""
import argparse
import json
import socket
import struct
import sys
import time

HEADER = struct.Struct("!Qd")


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    # Nearest rank: the smallest value with at least q of the samples at or below it.
    index = max(0, min(len(sorted_values) - 1, int(-(-q * len(sorted_values) // 1)) - 1))
    return sorted_values[index]


def server(args):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", args.port))
    listener.listen(1)
    listener.settimeout(args.accept_timeout)
    try:
        conn, _ = listener.accept()
    except socket.timeout:
        print("latency server: no connection within %ss" % args.accept_timeout, file=sys.stderr)
        return 1
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    size = None
    buffer = bytearray()
    latencies = []
    last_seq = -1
    out_of_order = 0
    while True:
        chunk = conn.recv(65536)
        now = time.time()
        if not chunk:
            break
        buffer += chunk
        if size is None and len(buffer) >= HEADER.size + 4:
            size = struct.unpack("!I", buffer[HEADER.size:HEADER.size + 4])[0]
        while size is not None and len(buffer) >= size:
            seq, sent = HEADER.unpack_from(buffer, 0)
            del buffer[:size]
            if seq != last_seq + 1:
                out_of_order += 1
            last_seq = seq
            if seq >= args.skip:
                latencies.append((now - sent) * 1000.0)
    conn.close()
    latencies.sort()
    delay = args.delay_ms
    result = {"messages": len(latencies), "skipped_first": args.skip, "sequence_gaps": out_of_order, "delay_ms": delay}
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)):
        value = percentile(latencies, q)
        result[name + "_ms"] = value
        result[name + "_over_delay_ms"] = None if value is None else value - delay
    if latencies:
        result.update(max_ms=latencies[-1], min_ms=latencies[0], mean_ms=sum(latencies) / len(latencies),
                      max_over_delay_ms=latencies[-1] - delay, mean_over_delay_ms=sum(latencies) / len(latencies) - delay)
    with open(args.out, "w") as f:
        json.dump(result, f)
    if args.cdf and latencies:
        n = len(latencies)
        step = max(1, n // 2000)
        tail = int(n * 0.99)
        with open(args.cdf, "w") as f:
            for i, value in enumerate(latencies):
                if i % step == 0 or i >= tail:
                    f.write("%.4f %.6f\n" % (value - delay, (i + 1) / n))
    return 0


def client(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if args.cc:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, args.cc.encode())
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    deadline = time.time() + 10
    while True:
        try:
            sock.connect((args.to, args.port))
            break
        except (ConnectionRefusedError, OSError):
            if time.time() > deadline:
                raise
            time.sleep(0.1)
            sock.close()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if args.cc:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, args.cc.encode())
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    padding = struct.pack("!I", args.size) + bytes(args.size - HEADER.size - 4)
    count = int(args.rate * args.seconds)
    start = time.monotonic()
    late = 0
    for seq in range(count):
        due = start + seq / args.rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -0.005:
            late += 1
        sock.sendall(HEADER.pack(seq, time.time()) + padding)
    sock.shutdown(socket.SHUT_WR)
    # Wait for the server to close, so every message was read before we exit.
    sock.settimeout(30)
    try:
        while sock.recv(4096):
            pass
    except socket.timeout:
        pass
    sock.close()
    print(json.dumps({"sent": count, "sent_late_over_5ms": late, "seconds": time.monotonic() - start}))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--port", type=int, default=9300)
    s.add_argument("--out", required=True)
    s.add_argument("--cdf")
    s.add_argument("--delay-ms", type=float, default=0.0)
    s.add_argument("--skip", type=int, default=0,
                   help="leave the first N messages out (the connection's slow start: one segment per message)")
    s.add_argument("--accept-timeout", type=float, default=30.0)
    c = sub.add_parser("client")
    c.add_argument("--to", required=True)
    c.add_argument("--port", type=int, default=9300)
    c.add_argument("--rate", type=float, default=1000.0)
    c.add_argument("--size", type=int, default=200)
    c.add_argument("--seconds", type=float, default=15.0)
    c.add_argument("--cc", default="cubic")
    args = parser.parse_args()
    if args.mode == "client" and args.size < HEADER.size + 4:
        parser.error("--size must be at least %d" % (HEADER.size + 4))
    return server(args) if args.mode == "server" else client(args)


if __name__ == "__main__":
    sys.exit(main())
