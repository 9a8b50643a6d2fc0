#!/usr/bin/env python3
"""Turn bench/run.sh's raw measurements into the tables and ratios it prints.

    report.py launch LAUNCH_JSON             per-launch table from hyperfine's --export-json
    report.py throughput THROUGHPUT_TXT      launches/s from "TOOL P N START END" lines
    report.py seccomp SECCOMP_TXT            ns/call with and without the filter
    report.py cpu CPU_TXT                    CPU per launch from perf stat ("NAME MS" lines)
    report.py ratios LAUNCH_JSON THROUGHPUT_TXT CPU_TXT   sandbox/bwrap ratios against the targets
                                             (TOOL "sandbox-batch": sandbox batch -j P;
                                             "floor": bench/floor/floor.c -j P, the kernel's share)

Parsing (the parse_* and the pure functions) is kept apart from reading files
and printing (main), so report_test.py can check it on fixed inputs.
Standard library only: python3 is the one extra package make bench needs.
"""

import json
import sys

# The targets of the launch issue (11): a sandbox launch costs at most as
# much wall time as a bwrap launch (median) and at most twice its CPU; and
# `sandbox batch -j 2` completes at least twice as many boxes per second as
# bwrap launched through xargs -P 2. The CLI's own throughput has no target:
# it shows what a shell script launching one box at a time gets.
LAUNCH_TARGET = 1.0
CPU_TARGET = 2.0
BATCH_TARGETS = {2: 2.0}


def parse_launch(text):
    """Return {name: {"median": s, "mean": s, "stddev": s, "min": s, "max": s,
    "cpu": s, "runs": n}} from hyperfine's JSON export, in the order hyperfine
    ran them. cpu is the mean user plus system time of the command and the
    children it waited for: what one launch costs the machine, which bounds
    throughput once every core is busy."""
    out = {}
    for r in json.loads(text)["results"]:
        # hyperfine 1.15 stores the --command-name under "command".
        out[r["command"]] = {
            "median": r["median"],
            "mean": r["mean"],
            "stddev": r.get("stddev") or 0.0,
            "min": r["min"],
            "max": r["max"],
            "cpu": (r.get("user") or 0.0) + (r.get("system") or 0.0),
            "runs": len(r.get("times") or []),
        }
    return out


def parse_throughput(text):
    """Return {(tool, p): launches_per_second} from "TOOL P N START END" lines,
    START and END in seconds (bash's $EPOCHREALTIME)."""
    out = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        f = line.split()
        if len(f) != 5:
            raise ValueError(f"throughput line {lineno}: want TOOL P N START END, got {line!r}")
        tool, p, n, start, end = f[0], int(f[1]), int(f[2]), float(f[3]), float(f[4])
        if end <= start:
            raise ValueError(f"throughput line {lineno}: end {end} is not after start {start}")
        out[(tool, p)] = n / (end - start)
    return out


def parse_seccomp(text):
    """Return {mode: {call: best_ns}} from "MODE CALL NS" lines, keeping the
    smallest of repeated measurements: on a shared machine other work only
    ever adds time, so the minimum is the closest to the true cost."""
    out = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        f = line.split()
        if len(f) != 3:
            raise ValueError(f"seccomp line {lineno}: want MODE CALL NS, got {line!r}")
        mode, call, ns = f[0], f[1], float(f[2])
        calls = out.setdefault(mode, {})
        calls[call] = min(ns, calls.get(call, ns))
    return out


def launch_ratio(launch):
    """sandbox's median launch time over bwrap's."""
    return launch["sandbox"]["median"] / launch["bwrap"]["median"]


def parse_cpu(text):
    """Return {name: ms} from "NAME MS" lines (perf stat's mean task-clock),
    with the setpriv every command ran through taken off: "setpriv-true"
    minus "plain" is its cost. Empty text gives {}."""
    raw = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        f = line.split()
        if len(f) != 2:
            raise ValueError(f"cpu line {lineno}: want NAME MS, got {line!r}")
        raw[f[0]] = float(f[1])
    if not raw:
        return {}
    setpriv = raw.get("setpriv-true", 0.0) - raw.get("plain", 0.0)
    return {k: v - setpriv for k, v in raw.items() if k not in ("plain", "setpriv-true")}


def cpu_ratio(launch, cpu=None):
    """sandbox's CPU time per launch over bwrap's: perf's figures where
    there are any, else hyperfine's."""
    if cpu and "sandbox" in cpu and cpu.get("bwrap", 0) > 0:
        return cpu["sandbox"] / cpu["bwrap"]
    return launch["sandbox"]["cpu"] / launch["bwrap"]["cpu"]


def format_cpu(cpu):
    return "\n".join([f"{'command':<20} {'cpu ms':>8}"] + [f"{k:<20} {v:>8.3f}" for k, v in cpu.items()])


def throughput_ratios(tp, tool="sandbox"):
    """{p: tool launches/s / bwrap launches/s} for every -P both were run at."""
    return {
        p: tp[(t, p)] / tp[("bwrap", p)]
        for (t, p) in sorted(tp)
        if t == tool and ("bwrap", p) in tp
    }


def verdict(value, target, at_most):
    """"met" or "MISSED" for value against target (at_most: lower is better)."""
    ok = value <= target if at_most else value >= target
    return "met" if ok else "MISSED"


def format_launch(launch):
    lines = [f"{'command':<20} {'median ms':>10} {'mean ms':>9} {'stddev':>8} {'min':>7} {'max':>7}"
             f" {'cpu ms':>7} {'runs':>5}"]
    for name, r in launch.items():
        lines.append(
            f"{name:<20} {r['median'] * 1e3:>10.3f} {r['mean'] * 1e3:>9.3f} {r['stddev'] * 1e3:>8.3f}"
            f" {r['min'] * 1e3:>7.3f} {r['max'] * 1e3:>7.3f} {r['cpu'] * 1e3:>7.3f} {r['runs']:>5}"
        )
    return "\n".join(lines)


def format_throughput(tp):
    tools = []
    ps = sorted({p for (_, p) in tp})
    for tool, _ in tp:
        if tool not in tools:
            tools.append(tool)
    lines = [f"{'launches/s':<12}" + "".join(f"{'-P ' + str(p):>10}" for p in ps)]
    for tool in tools:
        cells = "".join(f"{tp[(tool, p)]:>10.1f}" if (tool, p) in tp else f"{'-':>10}" for p in ps)
        lines.append(f"{tool:<12}{cells}")
    return "\n".join(lines)


def format_seccomp(sc):
    """One row per call: ns/call in each mode measured, and the filter's cost
    (default - off). "allow-all" is a filter that allows everything: its
    excess over "off" is what having any filter at all costs."""
    on, off = sc.get("default", {}), sc.get("off", {})
    cols = [m for m in ("host", "off", "allow-all", "default") if m in sc]
    lines = [f"{'call':<10}" + "".join(f"{m + ' ns':>13}" for m in cols) + f"{'filter ns':>11}"]
    for call in on:
        if call not in off:
            continue
        cells = "".join(f"{sc[m][call]:>13.1f}" if call in sc[m] else f"{'-':>13}" for m in cols)
        lines.append(f"{call:<10}{cells}{on[call] - off[call]:>+11.1f}")
    return "\n".join(lines)


def format_ratios(launch, tp, cpu=None):
    lr, cr = launch_ratio(launch), cpu_ratio(launch, cpu)
    lines = [
        f"launch ratio sandbox/bwrap (median): {lr:.2f} (target <= {LAUNCH_TARGET:g}: "
        f"{verdict(lr, LAUNCH_TARGET, True)})",
        f"CPU per launch ratio sandbox/bwrap: {cr:.2f} (target <= {CPU_TARGET:g}: "
        f"{verdict(cr, CPU_TARGET, True)})",
    ]
    for p, r in throughput_ratios(tp).items():
        lines.append(f"throughput ratio sandbox/bwrap -P{p}: {r:.2f}x (no target)")
    for p, r in throughput_ratios(tp, "sandbox-batch").items():
        t = BATCH_TARGETS.get(p)
        target = f" (target >= {t:g}: {verdict(r, t, False)})" if t is not None else " (no target)"
        lines.append(f"throughput ratio sandbox batch -j{p}/bwrap -P{p}: {r:.2f}x{target}")
    for p, r in throughput_ratios(tp, "floor").items():
        lines.append(f"throughput ratio kernel floor -j{p}/bwrap -P{p}: {r:.2f}x (the ceiling of any batch"
                     f" with the same namespaces and mounts)")
    return "\n".join(lines)


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def main(argv):
    cmds = {
        "launch": (1, lambda a: format_launch(parse_launch(_read(a[0])))),
        "throughput": (1, lambda a: format_throughput(parse_throughput(_read(a[0])))),
        "seccomp": (1, lambda a: format_seccomp(parse_seccomp(_read(a[0])))),
        "cpu": (1, lambda a: format_cpu(parse_cpu(_read(a[0])))),
        "ratios": (3, lambda a: format_ratios(parse_launch(_read(a[0])), parse_throughput(_read(a[1])),
                                              parse_cpu(_read(a[2])))),
    }
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 != cmds[argv[1]][0]:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    print(cmds[argv[1]][1](argv[2:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
