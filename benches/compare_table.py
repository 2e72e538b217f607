#!/usr/bin/env python3
"""Tables for benches/compare-nginx.sh from its per-run figures (a TSV with one line per
measured run: round, case, server, server µs/op, ops/s, server CPU %, errors, resumed, CPUs busy
before, 1-minute load before): each figure's median over the rounds, and the ratios that the
comparison is about, round by round (each ratio from runs measured minutes apart at most)."""

import statistics
import sys
from collections import defaultdict

FULL = "full mTLS handshake + request"
FULL_LOGS = "full mTLS handshake + request, logs on"
RESUMED = "resumed mTLS handshake + request"
PLAIN = "no client auth, handshake + request"
OPEN = "fail-open, no certificate, handshake + request"
KA_HDRS = "keep-alive requests to origin, nginx sends cert headers"
PQ = FULL + " (X25519MLKEM768)"

# (what, (case, server) of the numerator, (case, server) of the denominator): every ratio reads
# "how many times the numerator's server CPU per operation"; > 1 means mtls-proxy is cheaper
# when mtls-proxy is the denominator.
RATIOS = [
    ("full: mtls-proxy ÷ minimal server", (FULL, "mtls-proxy"), (FULL, "minimal")),
    ("full: nginx tickets off ÷ mtls-proxy", (FULL, "nginx-tickets-off"), (FULL, "mtls-proxy")),
    ("full: nginx default tickets ÷ mtls-proxy", (FULL, "nginx"), (FULL, "mtls-proxy")),
    ("full, info logs: mtls-proxy ÷ minimal server", (FULL_LOGS, "mtls-proxy"), (FULL, "minimal")),
    ("full, logs on: nginx tickets off + access log ÷ mtls-proxy",
     (FULL_LOGS, "nginx-tickets-off"), (FULL_LOGS, "mtls-proxy")),
    ("resumed: nginx ÷ mtls-proxy", (RESUMED, "nginx"), (RESUMED, "mtls-proxy")),
    ("resumed: mtls-proxy ÷ minimal server", (RESUMED, "mtls-proxy"), (RESUMED, "minimal")),
    ("no client auth: mtls-proxy ÷ minimal server", (PLAIN, "mtls-proxy"), (PLAIN, "minimal")),
    ("no client auth: nginx tickets off ÷ mtls-proxy", (PLAIN, "nginx-tickets-off"), (PLAIN, "mtls-proxy")),
    ("fail-open: nginx tickets off ÷ mtls-proxy", (OPEN, "nginx-tickets-off"), (OPEN, "mtls-proxy")),
    ("keep-alive with cert headers: nginx ÷ mtls-proxy", (KA_HDRS, "nginx+headers"), (KA_HDRS, "mtls-proxy")),
    ("X25519MLKEM768 full: mtls-proxy ÷ minimal server", (PQ, "mtls-proxy"), (PQ, "minimal")),
]


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def main(path):
    runs = defaultdict(dict)  # (case, server) -> round -> row
    order = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 10:
                continue
            rnd, case, server, us, rate, util, errors, resumed, busy, load = cols
            key = (case, server)
            if key not in order:
                order.append(key)
            runs[key][rnd] = {
                "us": number(us), "rate": number(rate), "util": number(util),
                "errors": int(errors), "resumed": int(resumed), "busy": busy, "load": load,
            }
    rounds = sorted({r for by_round in runs.values() for r in by_round}, key=int)

    print("| case | server | server µs/op, median | each round | completed/s | server CPU used "
          "| errors | resumed | 1-min load before |")
    print("|---|---|---:|---|---:|---:|---:|---:|---|")
    for key in order:
        rows = [runs[key][r] for r in rounds if r in runs[key]]
        us = [r["us"] for r in rows if r["us"] is not None]
        med = f"{statistics.median(us):.1f}" if us else "n/a"
        each = " / ".join(f"{u:.0f}" for u in us)
        rate = statistics.median([r["rate"] for r in rows])
        util = statistics.median([r["util"] for r in rows])
        errors = sum(r["errors"] for r in rows)
        resumed = sum(r["resumed"] for r in rows)
        loads = " / ".join(r["load"] for r in rows)
        print(f"| {key[0]} | {key[1]} | {med} | {each} | {rate:.0f} | {util:.0f} % | {errors} "
              f"| {resumed} | {loads} |")

    print()
    heads = " | ".join(f"round {r}" for r in rounds)
    print(f"| ratio of server CPU per operation | {heads} | median |")
    print("|---|" + "---:|" * (len(rounds) + 1))
    for what, num, den in RATIOS:
        values = []
        for r in rounds:
            a = runs.get(num, {}).get(r, {}).get("us")
            b = runs.get(den, {}).get(r, {}).get("us")
            values.append(a / b if a and b else None)
        if all(v is None for v in values):
            continue
        cells = " | ".join(f"{v:.2f}×" if v is not None else "n/a" for v in values)
        known = [v for v in values if v is not None]
        print(f"| {what} | {cells} | {statistics.median(known):.2f}× |")


if __name__ == "__main__":
    main(sys.argv[1])
