#!/usr/bin/env bash
# Mask pairs per second for 1024×1024 PNGs, decoding included: tessera evaluate vs a NumPy + Pillow
# script computing the same numbers, in one run on this machine. Usage: bench/evaluate.sh [PAIRS] [RUNS]
source "$(dirname "$0")/common.sh"
pairs="${1:-200}"
runs="${2:-5}"
build_release
make_venv numpy pillow
data="$work/evaluate-$pairs"
[ -d "$data/pred" ] || "$py" "$bench/make_masks.py" "$data" "$pairs"
machine

# The numbers must agree before anything is timed.
"$tessera" evaluate "$data/pred" "$data/truth" --json "$work/tessera-eval.json" >/dev/null
"$py" "$bench/reference/evaluate_numpy.py" "$data/pred" "$data/truth" --json "$work/reference-eval.json"
"$py" - "$work/tessera-eval.json" "$work/reference-eval.json" <<'PY'
import json, sys, math
t, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
c = t["classes"][0]
assert c["pooled"] == r["pooled"], (c["pooled"], r["pooled"])
for k, v in r["micro"].items():
    assert math.isclose(c["micro"][k], v, rel_tol=1e-12), k
for k, v in r["macro"].items():
    assert math.isclose(c["macro"][k]["mean"], v, rel_tol=1e-9), k
print("outputs agree: pooled counts equal, micro and macro metrics equal to 1e-9")
PY

t=$("$py" "$bench/measure.py" "$runs" -- "$tessera" evaluate "$data/pred" "$data/truth" --json /dev/null)
r=$("$py" "$bench/measure.py" "$runs" -- "$py" "$bench/reference/evaluate_numpy.py" "$data/pred" "$data/truth")
"$py" - "$pairs" "$t" "$r" <<'PY'
import json, sys
n = int(sys.argv[1]); t = json.loads(sys.argv[2]); r = json.loads(sys.argv[3])
tp, rp = n / t["median_s"], n / r["median_s"]
print(f"tessera evaluate : {t['median_s']:.3f} s median, {tp:7.1f} pairs/s, peak RSS {t['peak_rss_mb']:.0f} MB")
print(f"NumPy + Pillow   : {r['median_s']:.3f} s median, {rp:7.1f} pairs/s, peak RSS {r['peak_rss_mb']:.0f} MB")
print(f"ratio            : {tp / rp:.2f}x the reference's throughput")
PY
