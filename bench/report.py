"""Writes BENCHMARKS.md (to standard output) from the outputs bench/run collected:

    python report.py REPORT_DIR QUICK SECONDS

Per benchmark: its status and time, its headline lines (ratios, peak memory, agreement checks),
then its whole output in a folded block.
"""
import os
import platform
import re
import subprocess
import sys

report, quick, seconds = sys.argv[1], sys.argv[2] == "yes", int(sys.argv[3])
order = ["prepare", "evaluate", "engine", "models", "segment", "train", "search"]
titles = {
    "prepare": "prepare vs albumentations + OpenCV (bench/prepare.sh)",
    "evaluate": "evaluate vs NumPy + Pillow (bench/evaluate.sh)",
    "engine": "engine: sgemm, convolutions, forward and training step vs PyTorch and ONNX Runtime (bench/engine.sh)",
    "models": "every model: forward 1×512² and training step 4×256² vs PyTorch and ONNX Runtime (bench/models.sh)",
    "segment": "segment vs ONNX Runtime and MONAI (bench/segment.sh)",
    "train": "train vs PyTorch on brain-MRI slices (bench/train.sh)",
    "search": "search on brain-MRI slices, and the found genome trained next to a hand-written one and unet-bn (bench/search.sh)",
}
headline = re.compile(r"ratio|×|\bx\b|[0-9]x\b|peak RSS|agree|disagree|failed|not timed|machine:|threads", re.I)


def models_table(text):
    """The models benchmark's JSON lines as a table: Tessera against ONNX Runtime (forward 1×512²)
    and the faster PyTorch layout (forward, training step 4×256²), ratio = reference time / Tessera's.
    A case timed in several rounds (bench/models.sh) counts with the median of its rounds' figures."""
    import json
    import statistics
    rows, checks, rounds = {}, {}, {}
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if "check" in r:
            checks.setdefault(r["name"], []).append(r["max_abs_diff"])
            continue
        if "median_s" not in r:
            continue
        rows.setdefault(r["name"], {}).setdefault((r["runtime"], r["case"], r["batch"]), []).append(r["median_s"])
        rounds.setdefault(r["case"], set()).add(r.get("round", 1))
    if not rows:
        return None
    rows = {name: {key: statistics.median(v) for key, v in r.items()} for name, r in rows.items()}
    out = ["| model | outputs agree (max abs diff) | forward 1×512²: tessera / ONNX Runtime | ratio | "
           "forward: faster PyTorch | ratio | training step 4×256²: tessera / faster PyTorch | ratio |",
           "|---|---|---|---:|---|---:|---|---:|"]
    for name, r in rows.items():
        def get(runtime, case, batch):
            return r.get((runtime, case, batch))
        t_f, t_t = get("tessera", "forward", 1), get("tessera", "train", 4)
        ort = get("onnxruntime", "forward", 1)
        torch_f = min([v for v in (get("pytorch-nchw", "forward", 1), get("pytorch-channels-last", "forward", 1)) if v] or [None]) \
            if any((get("pytorch-nchw", "forward", 1), get("pytorch-channels-last", "forward", 1))) else None
        torch_t = min([v for v in (get("pytorch-nchw", "train", 4), get("pytorch-channels-last", "train", 4)) if v] or [None]) \
            if any((get("pytorch-nchw", "train", 4), get("pytorch-channels-last", "train", 4))) else None
        agree = f"{max(checks[name]):.1e}" if name in checks else "no reference"
        def fmt(x):
            return f"{x:.3f} s" if x else "—"
        def ratio(ref, mine):
            return f"{ref / mine:.2f}×" if ref and mine else "—"
        out.append(f"| {name} | {agree} | {fmt(t_f)} / {fmt(ort)} | {ratio(ort, t_f)} | {fmt(torch_f)} | {ratio(torch_f, t_f)} | "
                   f"{fmt(t_t)} / {fmt(torch_t)} | {ratio(torch_t, t_t)} |")
    counts = {case: len(seen) for case, seen in rounds.items()}
    if max(counts.values()) > 1:
        if len(set(counts.values())) == 1:
            out.append(f"\nEach figure: the median over {max(counts.values())} interleaved rounds of each process's median.")
        else:
            told = ", ".join(f"{'forward passes' if case == 'forward' else 'training steps'} in {k} round{'s' if k > 1 else ''}"
                             for case, k in sorted(counts.items()))
            out.append(f"\nEach figure: the median over the interleaved rounds of each process's median ({told}).")
    return "\n".join(out)


def run(*command):
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return "unknown"


cpu, family, flags = "unknown", "", set()
with open("/proc/cpuinfo") as f:
    for line in f:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and cpu == "unknown":
            cpu = value.strip()
        elif key == "cpu family" and not family:
            family = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
vectors = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
cpu = f"{cpu} (family {family}, {vectors})" if family else f"{cpu} ({vectors})"
print("# Benchmarks\n")
print(f"Written by `bench/run{' --quick' if quick else ''}` in {seconds // 60} min {seconds % 60} s, "
      f"at commit {run('git', 'rev-parse', '--short', 'HEAD')} ({run('git', 'log', '-1', '--format=%cs')}).")
print(f"Machine: {os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}. Each benchmark runs both sides "
      "in one run on this machine, release build, sides interleaved; the figures below are copied from its output.")
if os.environ.get("BENCH_OPENBLAS_UNSET"):
    print(f"OpenBLAS (Tessera's and NumPy's) ran with its own choice of kernels: the benchmarks unset "
          f"`{os.environ['BENCH_OPENBLAS_UNSET'].strip()}` from this machine's environment (bench/common.sh).")
if quick:
    print("\nThis is the quick report: smaller inputs and fewer runs, a subset of the models; "
          "`bench/run` without `--quick` runs everything at its defaults.")
for name in order:
    status_path = os.path.join(report, name + ".status")
    if not os.path.exists(status_path):
        continue
    state, took, command = open(status_path).read().splitlines()[:3]
    command = command.replace(os.path.dirname(os.path.abspath(__file__)), "bench")
    text = open(os.path.join(report, name + ".txt")).read().rstrip()
    print(f"\n## {titles[name]}\n")
    print(f"Status: **{state}**, {took} s: `{command}`")
    table = models_table(text) if name in ("models", "engine") else None
    if table:
        print("\n" + table)
    lines = [l for l in text.splitlines() if headline.search(l) and not l.startswith("[") and not l.startswith("{")]
    if lines:
        print("\n```")
        print("\n".join(lines[:40]))
        print("```")
    print("\n<details><summary>whole output</summary>\n\n```")
    print(text)
    print("```\n</details>")
