#!/usr/bin/env bash
# The engine against PyTorch (NCHW, channels_last) and ONNX Runtime, in one run on this machine:
# sgemm peak and conv GFLOP/s at the networks' shapes; whole-network forward (1 and 4 × 512²) and
# training step (4 × 256², Adam), with identical weights whose outputs are checked to 1e-4 first;
# peak RSS of a training step.
# Usage: bench/engine.sh [RUNS] [NETWORK...]   (default: 3 runs; unet-bn half-multiresunet)
source "$(dirname "$0")/common.sh"
runs=${1:-3}; shift || true
networks=("$@"); [ ${#networks[@]} -eq 0 ] && networks=(unet-bn half-multiresunet)
threads=$(nproc)
build_release
(cd "$root" && swift build -c release --product tessera-bench 2>&1 | grep -E "error|Build" | tail -1)
venv="${BENCH_VENV:-$bench/.venv-engine}"
make_venv torch onnx onnxruntime safetensors numpy
machine
"$root/.build/release/tessera-bench" --threads "$threads" --runs "$runs"
for net in "${networks[@]}"; do
    echo "== $net"
    "$root/.build/release/tessera-bench" --export "$net" "$work" 96
    "$py" "$bench/reference/engine_torch.py" "$net" "$work" "$threads" "$runs" 2> >(grep -v -i warn >&2)
    for batch in 1 4; do
        "$tessera" models "$net" --benchmark --size 512 --batch "$batch" --runs "$runs" --json | "$py" -c \
            'import json,sys; r=json.load(sys.stdin); print(json.dumps({"name": r["model"], "runtime": "tessera", "case": "forward", "batch": r["batch"], "size": r["size"], "median_s": r["median_s"]}))'
    done
    "$tessera" models "$net" --benchmark --size 256 --batch 4 --runs "$runs" --train --json | "$py" -c \
        'import json,sys; r=json.load(sys.stdin); print(json.dumps({"name": r["model"], "runtime": "tessera", "case": "train", "batch": 4, "size": 256, "median_s": r["median_s"]}))'
    echo "peak RSS of training steps (4×256², 2 steps after a warm-up):"
    echo "  tessera:               $("$py" "$bench/measure.py" 1 -- "$tessera" models "$net" --benchmark --size 256 --batch 4 --runs 2 --train)"
    echo "  pytorch channels-last: $("$py" "$bench/measure.py" 1 -- "$py" "$bench/reference/engine_torch.py" "$net" "$work" "$threads" 2 train-only channels-last)"
done
