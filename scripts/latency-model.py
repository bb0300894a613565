#!/usr/bin/env python3
"""A model of a paced message stream through layered XOR codes: delivery latency above the one-way
delay, in order, as one TCP connection sees it (docs/TUNING.md §4, "Message lanes").

  scripts/latency-model.py [--rate PPS] [--loss P] [--seconds S] [--seeds N] [--flush-ms F] CODE...

CODE is r:interleaves, with a trailing ! for prompt repairs: 8:1,8,9  4:1,4  4:1,4!

One packet per message, sent every 1/rate s; each data and repair frame is lost independently with
probability P. Bins follow the encoder (docs/CODEC.md): a layer-j bin takes every I_j-th packet and
sends its repair just before its next packet enters it once it holds r (with ! right after its r-th
member), or I_j · flush-after after its first member. A packet is rebuilt when a repair arrives
with every other member known; one never rebuilt is delivered a round trip and 5 ms later (TCP's
fast retransmit). A message is delivered when it and every earlier one are. Prints p99, p99.9 and
the maximum of the delay above one way, per code and seed. A model: no reordering window, no
decoder hold limit, no TCP window; it ranks codes, it does not replace the bed.
"""
import argparse
import random


def parse_code(text):
    prompt = text.endswith("!")
    r, layers = text.rstrip("!").split(":")
    return int(r), [int(x) for x in layers.split(",")], prompt


def simulate(r, interleaves, prompt, rate, loss, seconds, flush_ms, one_way_ms, seed):
    rnd = random.Random(seed)
    count = int(rate * seconds)
    step = 1000.0 / rate
    sent = [i * step for i in range(count)]
    missing = float("inf")
    known = [missing if rnd.random() < loss else sent[i] + one_way_ms for i in range(count)]
    repairs = []
    for interleave in interleaves:
        deadline = flush_ms * interleave / interleaves[0]
        for residue in range(interleave):
            members, first = [], 0.0
            for i in range(residue, count, interleave):
                if members and (len(members) >= r or sent[i] - first > deadline):
                    if len(members) >= r:
                        leaves = sent[members[-1]] if prompt else sent[i]
                    else:
                        leaves = first + deadline
                    if rnd.random() >= loss:
                        repairs.append((leaves + one_way_ms, members))
                    members = []
                if not members:
                    first = sent[i]
                members.append(i)
            if members and rnd.random() >= loss:
                repairs.append((first + deadline + one_way_ms, members))
    changed = True
    while changed:
        changed = False
        for arrives, members in repairs:
            lost = [m for m in members if known[m] == missing]
            if len(lost) == 1:
                known[lost[0]] = max([arrives] + [known[m] for m in members if m != lost[0]])
                changed = True
    never = 0
    for i in range(count):
        if known[i] == missing:
            never += 1
            known[i] = sent[i] + 3 * one_way_ms + 5
    delays, latest = [], 0.0
    for i in range(count):
        latest = max(latest, known[i])
        delays.append(latest - sent[i] - one_way_ms)
    delays.sort()

    def quantile(q):
        return delays[min(count - 1, int(q * count))]

    return quantile(0.99), quantile(0.999), delays[-1], never / count


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("codes", nargs="+", help="r:interleaves, ! for prompt repairs (4:1,4!)")
    p.add_argument("--rate", type=float, default=1000, help="messages (packets) a second (1000)")
    p.add_argument("--loss", type=float, default=0.01, help="loss probability of every frame (0.01)")
    p.add_argument("--seconds", type=float, default=200, help="stream length (200)")
    p.add_argument("--seeds", type=int, default=6, help="runs per code (6)")
    p.add_argument("--flush-ms", type=float, default=5.0, help="layer-0 flush deadline (5)")
    p.add_argument("--one-way-ms", type=float, default=25.0, help="one-way delay (25)")
    a = p.parse_args()
    print("%-12s %5s %8s %8s %8s %10s" % ("code", "seed", "p99", "p99.9", "max", "never"))
    for text in a.codes:
        r, interleaves, prompt = parse_code(text)
        for seed in range(1, a.seeds + 1):
            p99, p999, worst, never = simulate(r, interleaves, prompt, a.rate, a.loss, a.seconds, a.flush_ms, a.one_way_ms, seed)
            print("%-12s %5d %8.1f %8.1f %8.1f %10.1e" % (text, seed, p99, p999, worst, never))


if __name__ == "__main__":
    main()
