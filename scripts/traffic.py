#!/usr/bin/env python3
"""Test traffic for the bed: a numbered UDP stream, and a TCP transfer checked by hash.

send:        traffic.py send --to 10.2.0.2 --port 9000 --count 20000 --rate 5000 [--size 1000]
receive:     traffic.py receive --port 9000 --duration 10 [--out FILE]
tcp-send:    traffic.py tcp-send --to 10.2.0.2 --port 9100 --bytes 67108864 [--seed 1] [--pause-after B --pause S]
tcp-receive: traffic.py tcp-receive --port 9100 [--out FILE]
`receive` prints (or writes) one JSON object: received, unique, duplicates, highest sequence, and
every silence longer than 100 ms (wall-clock start and end), so a test can see outages, and the
arrivals behind the highest sequence so far (late) with the largest such distance (max_displacement). The TCP
modes print the byte count and SHA-256 of what was sent or received.
"""
import argparse, hashlib, json, random, socket, struct, sys, time


def send(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    padding = bytes(max(0, args.size - 12))
    start = time.monotonic()
    for seq in range(args.count):
        due = start + seq / args.rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sock.sendto(struct.pack("!QI", seq, args.count) + padding, (args.to, args.port))
    print(json.dumps({"sent": args.count, "seconds": round(time.monotonic() - start, 3)}))


def receive(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind(("0.0.0.0", args.port))
    sock.settimeout(0.05)
    seen, duplicates, received, highest = set(), 0, 0, -1
    # Arrivals behind the highest sequence so far, and how far behind the worst one was.
    late, displacement = 0, 0
    gaps, last = [], None
    end = time.time() + args.duration
    while time.time() < end:
        try:
            data = sock.recv(65535)
        except socket.timeout:
            continue
        now = time.time()
        if len(data) < 12:
            continue
        seq, _ = struct.unpack("!QI", data[:12])
        received += 1
        if seq in seen:
            duplicates += 1
        seen.add(seq)
        if seq < highest:
            late += 1
            displacement = max(displacement, highest - seq)
        highest = max(highest, seq)
        if last is not None and now - last > 0.1:
            gaps.append({"start": last, "end": now})
        last = now
    result = {"received": received, "unique": len(seen), "duplicates": duplicates, "highest": highest,
              "gaps": gaps, "last_arrival": last, "late": late, "max_displacement": displacement}
    text = json.dumps(result)
    if args.out:
        with open(args.out, "w") as out:
            out.write(text)
    print(text)


def tcp_send(args):
    generator = random.Random(args.seed)
    digest, sent = hashlib.sha256(), 0
    # The receiver may still be starting (a Python in a busy namespace takes a while): retry for 10 s.
    deadline = time.monotonic() + 10
    while True:
        try:
            sock = socket.create_connection((args.to, args.port), timeout=60)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    with sock:
        paused = args.pause <= 0
        while sent < args.bytes:
            if not paused and sent >= args.pause_after:
                # An open connection that goes quiet across an outage, then carries on.
                time.sleep(args.pause)
                paused = True
            limit = args.bytes - sent if paused else args.pause_after - sent
            chunk = generator.randbytes(max(1, min(1 << 20, limit)))
            digest.update(chunk)
            sock.sendall(chunk)
            sent += len(chunk)
    print(json.dumps({"bytes": sent, "sha256": digest.hexdigest()}))


def tcp_receive(args):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", args.port))
    listener.listen(1)
    listener.settimeout(args.timeout)
    connection, _ = listener.accept()
    connection.settimeout(args.timeout)
    digest, received = hashlib.sha256(), 0
    while True:
        data = connection.recv(1 << 20)
        if not data:
            break
        digest.update(data)
        received += len(data)
    text = json.dumps({"bytes": received, "sha256": digest.hexdigest()})
    if args.out:
        with open(args.out, "w") as out:
            out.write(text)
    print(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("send")
    s.add_argument("--to", required=True)
    s.add_argument("--port", type=int, default=9000)
    s.add_argument("--count", type=int, default=10000)
    s.add_argument("--rate", type=float, default=5000)
    s.add_argument("--size", type=int, default=1000)
    r = sub.add_parser("receive")
    r.add_argument("--port", type=int, default=9000)
    r.add_argument("--duration", type=float, default=10)
    r.add_argument("--out")
    t = sub.add_parser("tcp-send")
    t.add_argument("--to", required=True)
    t.add_argument("--port", type=int, default=9100)
    t.add_argument("--bytes", type=int, default=64 << 20)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--pause-after", type=int, default=0, help="bytes to send before pausing")
    t.add_argument("--pause", type=float, default=0, help="seconds to pause, with the connection open")
    u = sub.add_parser("tcp-receive")
    u.add_argument("--port", type=int, default=9100)
    u.add_argument("--timeout", type=float, default=120)
    u.add_argument("--out")
    args = parser.parse_args()
    {"send": send, "receive": receive, "tcp-send": tcp_send, "tcp-receive": tcp_receive}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
