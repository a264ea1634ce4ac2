"""Runs a command several times; prints the median wall time, the median CPU time (user + system,
of the command and the children it reaped) and the peak resident memory of the command's own
process (from wait4, so the measuring process is not counted).

    python measure.py RUNS -- COMMAND ARGS...
Prints one JSON line: {"median_s", "runs_s", "cpu_s", "peak_rss_mb"}.
"""
import json
import os
import statistics
import subprocess
import sys
import time


def run_once(argv):
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"command failed with exit {code}: {' '.join(argv)}\n{err}")
    return elapsed, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


def main():
    runs = int(sys.argv[1])
    argv = sys.argv[sys.argv.index("--") + 1:]
    times, peaks, cpus = [], [], []
    for _ in range(runs):
        t, rss, cpu = run_once(argv)
        times.append(t)
        peaks.append(rss)
        cpus.append(cpu)
    print(json.dumps({"median_s": statistics.median(times), "runs_s": times, "cpu_s": statistics.median(cpus),
                      "peak_rss_mb": max(peaks)}))


if __name__ == "__main__":
    main()
