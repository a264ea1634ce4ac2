#!/usr/bin/env bash
# Mask pairs per second for 1024×1024 PNGs, decoding included: tessera evaluate (its default
# threads, 2 here) vs a NumPy + Pillow script computing the same numbers (one process, as such a
# script is written), sides interleaved in one run on this machine; CPU time per pair shows the
# work apart from the threads. Usage: bench/evaluate.sh [PAIRS] [RUNS]
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

# Both sides interleaved (a warm-up round, then RUNS rounds).
both=$("$py" "$bench/interleave.py" "$runs" \
    tessera -- "$tessera" evaluate "$data/pred" "$data/truth" --json /dev/null ::: \
    reference -- "$py" "$bench/reference/evaluate_numpy.py" "$data/pred" "$data/truth")
"$py" - "$pairs" "$both" <<'PY'
import json, sys
n = int(sys.argv[1]); both = json.loads(sys.argv[2]); t, r = both["tessera"], both["reference"]
tp, rp = n / t["median_s"], n / r["median_s"]
print(f"tessera evaluate : {t['median_s']:.3f} s median, {tp:7.1f} pairs/s, {t['cpu_s'] / n * 1000:5.1f} CPU-ms per pair, peak RSS {t['peak_rss_mb']:.0f} MB")
print(f"NumPy + Pillow   : {r['median_s']:.3f} s median, {rp:7.1f} pairs/s, {r['cpu_s'] / n * 1000:5.1f} CPU-ms per pair, peak RSS {r['peak_rss_mb']:.0f} MB")
print(f"ratio            : {tp / rp:.2f}x the reference's throughput")
PY
