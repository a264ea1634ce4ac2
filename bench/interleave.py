"""Runs several commands in interleaved rounds (A B C, A B C, …) after one warm-up round, so
that the machine's drift falls on every side alike; prints one JSON object mapping each label to
its median wall time, all runs, median CPU time (user + system, with reaped children) and peak
resident memory of the command's own process.

    python interleave.py RUNS LABEL -- COMMAND ARGS... ::: LABEL -- COMMAND ARGS... ...

A label written LABEL@DIR has DIR removed before each of its runs (outputs written afresh).
"""
import json
import shutil
import statistics
import sys

from measure import run_once


def main():
    runs = int(sys.argv[1])
    sides, current = [], []
    for arg in sys.argv[2:] + [":::"]:
        if arg == ":::":
            label, _, argv = current[0], current[1], current[2:]
            label, _, clean = label.partition("@")
            sides.append((label, clean, argv))
            current = []
        else:
            current.append(arg)
    results = {label: ([], [], []) for label, _, _ in sides}
    for round_ in range(runs + 1):
        for label, clean, argv in sides:
            if clean:
                shutil.rmtree(clean, ignore_errors=True)
            t, rss, cpu = run_once(argv)
            if round_ > 0:  # round 0 is the warm-up
                times, peaks, cpus = results[label]
                times.append(t), peaks.append(rss), cpus.append(cpu)
    print(json.dumps({label: {"median_s": statistics.median(t), "runs_s": t, "cpu_s": statistics.median(c),
                              "peak_rss_mb": max(p)} for label, (t, p, c) in results.items()}))


if __name__ == "__main__":
    main()
