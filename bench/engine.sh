#!/usr/bin/env bash
# Engine micro-benchmarks: sgemm peak next to conv2d GFLOP/s at the networks' shapes, in one run.
# Usage: bench/engine.sh [THREADS] [RUNS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
(cd "$root" && swift build -c release --product tessera-bench 2>&1 | grep -E "error|complete" | tail -1)
"$root/.build/release/tessera-bench" --threads "${1:-$(nproc)}" --runs "${2:-5}"
