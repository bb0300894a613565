#!/usr/bin/env python3
"""Prints the JSON results of scripts/bench/run as Markdown tables (for docs/RESULTS.md).

  scripts/bench/tables.py [DIR]      (default docs/results/bench)
"""
import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
LABEL = {"plain": "plain TCP", "maelstrom": "Maelstrom default (adaptive)", "fixed": "Maelstrom fixed (8,3,[1,10,100])",
         "xor1": "single-layer XOR (8,1,[1])", "kcptun": "kcptun (RS 10+3)", "wireguard": "wireguard-go"}


def f(v, fmt="%.1f"):
    return "—" if v is None else fmt % v


def load(d, name):
    path = os.path.join(d, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        return json.load(fh)


def machine(j):
    m = j["machine"]
    return "%s, `%s`, %d cores, kernel %s, commit %s%s, load average at the end %s" % (
        m["date"], j["command"], m["nproc"], m["kernel"], m["commit"][:10], " (Sources modified)" if m.get("dirty") else "",
        "/".join(m["loadavg_at_end"]))


def goodput(j, fig="goodput"):
    print("### %s\n\n%s\n" % (fig, machine(j)))
    print("| cc | rate | delay | loss | arm | Mbit/s | ratio to plain loss-free | overhead sent | rebuilt | unrecoverable |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c in j["cases"]:
        b = c["bed"]
        if c.get("skipped"):
            print("| %s | %d | %d ms | %s | %s | skipped: %s | | | | |" % (c["cc"], b["rate_mbit"], b["delay_ms"], b["loss"],
                                                                     LABEL[c["arm"]], c["skipped"]))
            continue
        print("| %s | %d | %d ms | %s | %s | %s | %s | %s | %s | %s |" % (
            c["cc"], b["rate_mbit"], b["delay_ms"], b["loss"], LABEL[c["arm"]], f(c.get("goodput_mbit")),
            f(c.get("ratio_to_plain_clean"), "%.3f"), f(c.get("overhead_sent"), "%.3f"), f(c.get("rebuilt_gwB"), "%d"),
            f(c.get("unrecoverable_gwB"), "%d")))
    print()


def latency(j):
    print("### latency\n\n%s\n" % machine(j))
    print("| loss | arm | messages | p50 | p99 | p99.9 | max | (ms above the one-way delay) |")
    print("|---|---|---|---|---|---|---|---|")
    for c in j["cases"]:
        if c.get("skipped") or c.get("error"):
            print("| %s | %s | %s | | | | | |" % (c["bed"]["loss"], LABEL[c["arm"]], c.get("skipped") or c.get("error")))
            continue
        print("| %s | %s | %d | +%.2f | +%.2f | +%.2f | +%.1f | |" % (
            c["bed"]["loss"], LABEL[c["arm"]], c["messages"], c["p50_over_delay_ms"], c["p99_over_delay_ms"],
            c["p99.9_over_delay_ms"], c["max_over_delay_ms"]))
    print()


def recovery(j):
    print("### recovery\n\n%s\n" % machine(j))
    print("| burst model | packets rebuilt | median (bucket) | p99 (bucket) | mean (exact) | unrecoverable | simulate median / p99 | pkt/s sent |")
    print("|---|---|---|---|---|---|---|---|")
    for c in j["cases"]:
        if c.get("error"):
            print("| %s | %s | | | | | | |" % (c["bed"]["loss"], c["error"][:80]))
            continue
        sim = c.get("simulate", {}).get("recovery_latency_ms", {})
        pb = c.get("p50_bucket_ms") or [None, None]
        qb = c.get("p99_bucket_ms") or [None, None]
        print("| %s | %d | %s ms (%s–%s) | %s ms (%s–%s) | %s ms | %d | %s / %s ms | %.0f |" % (
            c["bed"]["loss"], c["count"], f(c["p50_ms"], "%.2f"), f(pb[0], "%.3g"), f(pb[1], "%.3g"), f(c["p99_ms"], "%.2f"),
            f(qb[0], "%.3g"), f(qb[1], "%.3g"), f(c["mean_ms"], "%.2f"), c["unrecoverable"], sim.get("p50", "—"),
            sim.get("p99", "—"), c.get("achieved_pps") or 0))
    print()
    blocks = sorted({code for c in j["cases"] for code in c.get("simulate_block", {})}, key=lambda t: int(t.split(",")[0]))
    if blocks:
        print("Ideal block codes of the same overhead (`maelstromd simulate --block K,H`, same loss model and rate):\n")
        print("| burst model | " + " | ".join("block %s: median / p99 / max (ms), unrecovered" % b.replace(",", "+") for b in blocks) + " |")
        print("|---|" + "---|" * len(blocks))
        for c in j["cases"]:
            if c.get("error"):
                continue
            cells = []
            for b in blocks:
                r = c.get("simulate_block", {}).get(b, {})
                lat = r.get("recovery_latency_ms", {})
                if "error" in r or not r:
                    cells.append("—")
                elif r.get("recovered"):
                    cells.append("%s / %s / %s, %d of %d" % (lat.get("p50"), lat.get("p99"), lat.get("max"), r["unrecovered"], r["lost_data"]))
                else:
                    cells.append("nothing rebuilt, %d of %d" % (r["unrecovered"], r["lost_data"]))
            print("| %s | %s |" % (c["bed"]["loss"], " | ".join(cells)))
        print()


def capacity(j):
    print("### capacity\n\n%s\n" % machine(j))
    print("| arm | Mbit/s | ratio to kernel routing | gwA cores | gwB cores | gwA / gwB CPU-s per Gbit | RSS gwA / gwB (MiB) | packets/s read by gwA | WAN packets/s A→B | WAN packets per Mbit/s of goodput |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = next((c.get("goodput_mbit") for c in j["cases"] if c["arm"] == "plain"), None)
    for c in j["cases"]:
        label = "kernel routing" if c["arm"] == "plain" else LABEL[c["arm"]]
        if c.get("skipped"):
            print("| %s | skipped: %s | | | | | | | | |" % (label, c["skipped"]))
            continue
        cpu = c.get("cpu", {})
        a, b = cpu.get("gwA", {}), cpu.get("gwB", {})
        mbit = c.get("goodput_mbit")
        print("| %s | %s | %s | %s | %s | %s / %s | %s / %s | %s | %s | %s |" % (
            label, f(mbit), f(mbit / base if mbit and base else None, "%.3f"), f(a.get("cores"), "%.2f"), f(b.get("cores"), "%.2f"),
            f(a.get("cpu_seconds_per_gbit"), "%.2f"), f(b.get("cpu_seconds_per_gbit"), "%.2f"),
            f(a.get("rss_kib") and a["rss_kib"] / 1024.0), f(b.get("rss_kib") and b["rss_kib"] / 1024.0),
            f(c.get("packets_per_s_gwA"), "%.0f"), f(c.get("wan_packets_per_s_ab"), "%.0f"), f(c.get("wan_packets_per_goodput_mbit"), "%.1f")))
    print()


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "docs", "results", "bench")
    for name, fn in (("goodput", goodput), ("delay", lambda j: goodput(j, "delay")), ("latency", latency),
                     ("recovery", recovery), ("capacity", capacity)):
        j = load(d, name)
        if j:
            fn(j)


if __name__ == "__main__":
    main()
