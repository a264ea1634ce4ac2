#!/usr/bin/env bash
# Every registered model plugin: forward 1×512² and training step 4×256² (Adam) in Tessera, next
# to the same architecture in PyTorch (NCHW, channels_last) and ONNX Runtime where
# bench/reference/networks.py defines it (outputs checked to 1e-4 first), in one run.
# Usage: bench/models.sh [RUNS] [MODEL...]   (default: 2 runs, every model but threshold)
source "$(dirname "$0")/common.sh"
runs=${1:-2}; shift || true
threads=$(nproc)
build_release
(cd "$root" && swift build -c release --product tessera-bench 2>&1 | grep -E "error|Build" | tail -1)
venv="${BENCH_VENV:-$bench/.venv-engine}"
make_venv torch onnx onnxruntime safetensors numpy
machine
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
    mapfile -t models < <("$tessera" models --json | "$py" -c 'import json,sys; [print(m["name"]) for m in json.load(sys.stdin) if m["parameters"]]')
fi
as_row='import json,sys; r=json.load(sys.stdin); print(json.dumps({"name": r["model"], "runtime": "tessera", "case": r["case"], "batch": r["batch"], "size": r["size"], "median_s": round(r["median_s"], 4), "images_per_s": round(r["images_per_s"], 3)}))'
for model in "${models[@]}"; do
    echo "== $model"
    "$tessera" models "$model" --benchmark --size 512 --batch 1 --runs "$runs" --json | "$py" -c "$as_row"
    "$tessera" models "$model" --benchmark --size 256 --batch 4 --runs "$runs" --train --json | "$py" -c "$as_row"
    if "$py" -c "import sys; sys.path.insert(0, '$bench/reference'); from networks import build; build('$model')" 2>/dev/null; then
        "$root/.build/release/tessera-bench" --export "$model" "$work" 96
        "$py" "$bench/reference/engine_torch.py" "$model" "$work" "$threads" "$runs" batches 1 2> >(grep -v -i warn >&2) \
            || echo "(the reference disagrees with Tessera; not timed)"
    else
        echo "(no reference definition in bench/reference/networks.py)"
    fi
done
