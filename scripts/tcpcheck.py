#!/usr/bin/env python3
"""TCP semantics through the gateways: many checked transfers, refusal, half-close, reset, restarts.

serve:   tcpcheck.py serve --bind 10.2.0.2 --port 9300 --log FILE
run:     tcpcheck.py run --to 10.2.0.2 --port 9300 [--connections 200] [--concurrency 200]
                     [--max-bytes 400000] [--seed 1] [--deadline 120]
refused: tcpcheck.py refused --to 10.2.0.2 --port 9399
reset:   tcpcheck.py reset --to 10.2.0.2 --port 9300
hold:    tcpcheck.py hold --to 10.2.0.2 --port 9300 --seconds 20 [--idle]

Each `run` connection sends a 24-byte header (magic, bytes up, bytes down, seed), that many bytes
drawn from the seed, then shuts its sending side (a half-close). The server reads to the end,
checks length and SHA-256, and only then sends the bytes down and closes; the client checks them.
So every byte is checked both ways, and every connection half-closes with data still to come.
The server appends one JSON line per connection to --log: the client address it saw, bytes,
whether they matched, and how the connection ended (eof, reset, error). Every client mode prints
one JSON object.
"""
import argparse, hashlib, json, random, socket, struct, sys, threading, time

MAGIC = b"MSPL"
HEADER = struct.Struct("!4sQQI")


def pattern(seed, size):
    """The bytes a connection carries one way: reproducible from the seed, cheap to make."""
    block = random.Random(seed).randbytes(65536)
    whole, rest = divmod(size, len(block))
    return block * whole + block[:rest]


def digest(seed, size):
    return hashlib.sha256(pattern(seed, size)).hexdigest()


def serve(args):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.bind, args.port))
    listener.listen(1024)
    lock = threading.Lock()

    def record(entry):
        with lock, open(args.log, "a") as log:
            log.write(json.dumps(entry) + "\n")

    def handle(conn, peer):
        entry = {"peer": "%s:%d" % peer, "received": 0}
        try:
            head = b""
            while len(head) < HEADER.size:
                chunk = conn.recv(HEADER.size - len(head))
                if not chunk:
                    break
                head += chunk
            if len(head) < HEADER.size:
                entry["end"] = "eof"
                return
            magic, up, down, seed = HEADER.unpack(head)
            entry.update(up=up, down=down, seed=seed)
            if magic != MAGIC:
                entry["end"] = "bad-magic"
                return
            hasher = hashlib.sha256()
            received = 0
            while True:
                chunk = conn.recv(262144)
                if not chunk:
                    break
                hasher.update(chunk)
                received += len(chunk)
            entry["received"] = received
            entry["up_ok"] = received == up and hasher.hexdigest() == digest(seed, up)
            # The client has half-closed; this side can still send.
            entry["half_closed"] = True
            if entry["up_ok"]:
                conn.sendall(pattern(seed + 1, down))
            entry["end"] = "eof"
        except ConnectionResetError:
            entry["end"] = "reset"
        except OSError as error:
            entry["end"] = "error: %s" % error
        finally:
            conn.close()
            record(entry)

    while True:
        conn, peer = listener.accept()
        threading.Thread(target=handle, args=(conn, peer), daemon=True).start()


def transfer(args, index, rng, results):
    up = rng.randrange(0, args.max_bytes + 1)
    down = rng.randrange(0, args.max_bytes + 1)
    seed = args.seed * 100000 + index
    outcome = {"index": index, "up": up, "down": down}
    try:
        conn = socket.create_connection((args.to, args.port), timeout=args.deadline)
        outcome["local"] = "%s:%d" % conn.getsockname()
        conn.sendall(HEADER.pack(MAGIC, up, down, seed) + pattern(seed, up))
        conn.shutdown(socket.SHUT_WR)
        hasher = hashlib.sha256()
        received = 0
        while True:
            chunk = conn.recv(262144)
            if not chunk:
                break
            hasher.update(chunk)
            received += len(chunk)
        conn.close()
        outcome["received"] = received
        outcome["ok"] = received == down and hasher.hexdigest() == digest(seed + 1, down)
        if not outcome["ok"]:
            outcome["why"] = "got %d of %d bytes down, or they differ" % (received, down)
    except socket.timeout:
        outcome.update(ok=False, hung=True, why="no progress for %s s" % args.deadline)
    except OSError as error:
        outcome.update(ok=False, why=str(error))
    results[index] = outcome


def run(args):
    rng = random.Random(args.seed)
    results = [None] * args.connections
    start = time.monotonic()
    pending = list(range(args.connections))
    active = []
    while pending or active:
        while pending and len(active) < args.concurrency:
            index = pending.pop(0)
            thread = threading.Thread(target=transfer, args=(args, index, random.Random(rng.random()), results), daemon=True)
            thread.start()
            active.append(thread)
        active[0].join(timeout=args.deadline * 2)
        active = [t for t in active if t.is_alive()]
    failures = [r for r in results if not (r and r.get("ok"))]
    print(json.dumps({
        "connections": args.connections, "ok": args.connections - len(failures),
        "hung": sum(1 for r in failures if r and r.get("hung")),
        "bytes": sum(r["up"] + r["down"] for r in results if r), "seconds": round(time.monotonic() - start, 3),
        "failures": failures[:5],
    }))


def refused(args):
    start = time.monotonic()
    outcome = "data"
    try:
        conn = socket.create_connection((args.to, args.port), timeout=10)
        try:
            outcome = "eof" if not conn.recv(1) else "data"
        except ConnectionResetError:
            outcome = "reset"
        except socket.timeout:
            outcome = "hung"
    except ConnectionRefusedError:
        outcome = "refused"
    except socket.timeout:
        outcome = "hung"
    print(json.dumps({"outcome": outcome, "seconds": round(time.monotonic() - start, 3)}))


def reset(args):
    conn = socket.create_connection((args.to, args.port), timeout=10)
    local = "%s:%d" % conn.getsockname()
    conn.sendall(HEADER.pack(MAGIC, 10_000_000, 0, 7) + pattern(7, 100_000))
    time.sleep(0.5)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    print(json.dumps({"local": local, "sent": 100_000}))


def hold(args):
    conn = socket.create_connection((args.to, args.port), timeout=10)
    local = "%s:%d" % conn.getsockname()
    conn.sendall(HEADER.pack(MAGIC, 1 << 40, 0, 9))
    start = time.monotonic()
    outcome = "timeout"
    conn.settimeout(0.05)
    chunk = bytes(1024)
    while time.monotonic() - start < args.seconds:
        try:
            # --idle sends nothing after the header: the connection is open but silent.
            if not args.idle:
                conn.send(chunk)
            if conn.recv(1) == b"":
                outcome = "eof"
                break
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            outcome = "reset"
            break
        except OSError as error:
            outcome = "error: %s" % error
            break
    print(json.dumps({"local": local, "outcome": outcome, "after": round(time.monotonic() - start, 3)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--bind", default="0.0.0.0")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    for name in ("run", "refused", "reset", "hold"):
        p = sub.add_parser(name)
        p.add_argument("--to", required=True)
        p.add_argument("--port", type=int, required=True)
        if name == "run":
            p.add_argument("--connections", type=int, default=200)
            p.add_argument("--concurrency", type=int, default=200)
            p.add_argument("--max-bytes", type=int, default=400_000)
            p.add_argument("--seed", type=int, default=1)
            p.add_argument("--deadline", type=float, default=120)
        if name == "hold":
            p.add_argument("--seconds", type=float, default=20)
            p.add_argument("--idle", action="store_true")
    args = parser.parse_args()
    {"serve": serve, "run": run, "refused": refused, "reset": reset, "hold": hold}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
