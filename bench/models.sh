#!/usr/bin/env bash
# Every registered model plugin: forward 1×512² and training step 4×256² (Adam) in Tessera, next
# to the same architecture in PyTorch (NCHW, channels_last) and ONNX Runtime where
# bench/reference/networks.py defines it (outputs checked to 1e-4 first, every round), in one run.
#
# The sides alternate in rounds — Tessera's forward passes, the references' forward passes,
# Tessera's training steps, the references' training steps, then again — each process timing
# RUNS runs after a warm-up; the report takes, per side, the median over the rounds of those
# medians, so that the machine's drift falls on every side alike. A PyTorch layout more than 15 %
# slower than the other in the first round is not timed again (the comparison is with the faster).
# Usage: bench/models.sh [RUNS [ROUNDS [TRAIN_ROUNDS]]] [MODEL...]
#   (default: 2 runs, 3 rounds, training steps in as many rounds, every model but threshold;
#   TRAIN_ROUNDS below ROUNDS times the training steps in the first rounds only)
source "$(dirname "$0")/common.sh"
runs=2
rounds=3
[[ "${1:-}" =~ ^[0-9]+$ ]] && { runs=$1; shift; }
[[ "${1:-}" =~ ^[0-9]+$ ]] && { rounds=$1; shift; }
train_rounds=$rounds
[[ "${1:-}" =~ ^[0-9]+$ ]] && { train_rounds=$1; shift; }
threads=$(nproc)
build_release
(cd "$root" && swift build -c release --product tessera-bench 2>&1 | grep -E "error|Build" | tail -1)
venv="${BENCH_VENV:-$bench/.venv-engine}"
make_venv torch onnx onnxruntime safetensors numpy
machine
echo "rounds: $rounds (training steps: $(( train_rounds < rounds ? train_rounds : rounds ))), each side $runs runs after a warm-up per round"
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
    mapfile -t models < <("$tessera" models --json | "$py" -c 'import json,sys; [print(m["name"]) for m in json.load(sys.stdin) if m["parameters"]]')
fi
as_row='import json,sys; r=json.load(sys.stdin); print(json.dumps({"name": r["model"], "runtime": "tessera", "case": r["case"], "batch": r["batch"], "size": r["size"], "median_s": round(r["median_s"], 4), "images_per_s": round(r["images_per_s"], 3), "round": int(sys.argv[1])}))'
# The layouts (nchw,channels-last) still timed in a case, from the first round's lines in $1.
faster_layouts='import json,sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
t = {r["runtime"].removeprefix("pytorch-"): r["median_s"] for r in rows if r.get("case") == sys.argv[2] and r["runtime"].startswith("pytorch-")}
print(",".join(k for k in ("nchw", "channels-last") if k in t and t[k] <= 1.15 * min(t.values())) or "nchw,channels-last")'
reference() {
    "$py" "$bench/reference/engine_torch.py" "$model" "$work" "$threads" "$runs" "$@" 2> >(grep -v -i warn >&2)
}
for model in "${models[@]}"; do
    echo "== $model"
    if ! "$py" -c "import sys; sys.path.insert(0, '$bench/reference'); from networks import build; build('$model')" 2>/dev/null; then
        echo "(no reference definition in bench/reference/networks.py)"
        "$tessera" models "$model" --benchmark --size 512 --batch 1 --runs "$runs" --json | "$py" -c "$as_row" 1
        "$tessera" models "$model" --benchmark --size 256 --batch 4 --runs "$runs" --train --json | "$py" -c "$as_row" 1
        continue
    fi
    "$root/.build/release/tessera-bench" --export "$model" "$work" 96
    lines="$work/$model.rounds.jsonl"
    : > "$lines"
    forward_layouts=nchw,channels-last
    train_layouts=nchw,channels-last
    for round in $(seq "$rounds"); do
        "$tessera" models "$model" --benchmark --size 512 --batch 1 --runs "$runs" --json | "$py" -c "$as_row" "$round" | tee -a "$lines"
        if ! reference forward 1 layouts "$forward_layouts" round "$round" | tee -a "$lines"; then
            echo "(the reference disagrees with Tessera; not timed)"
            break
        fi
        if [ "$round" -le "$train_rounds" ]; then
            "$tessera" models "$model" --benchmark --size 256 --batch 4 --runs "$runs" --train --json | "$py" -c "$as_row" "$round" | tee -a "$lines"
            reference train "$train_layouts" round "$round" | tee -a "$lines"
        fi
        if [ "$round" = 1 ]; then
            forward_layouts=$("$py" -c "$faster_layouts" "$lines" forward)
            train_layouts=$("$py" -c "$faster_layouts" "$lines" train)
        fi
    done
done
