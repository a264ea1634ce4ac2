#!/usr/bin/env bash
# `tessera segment` against ONNX Runtime (speed) and MONAI's sliding_window_inference (memory), in
# one run on this machine, with the same weights: for each model, a checkpoint of one epoch of
# `tessera train` on the embedded sample (the weights need not be good for speed or memory),
# loaded into bench/reference/networks.py's PyTorch definition (segment_onnx.py), exported to
# ONNX and checked against Tessera's own probabilities on a one-tile image first.
#  1. Speed, per model: IMAGES synthetic RGB images of GRID×GRID tiles of 512² (overlap 64, so
#     512 + (GRID−1)·448 pixels a side: 1856² for GRID 4). Tessera: the whole `tessera segment`
#     process (start-up, reading, batched forward passes, gaussian stitching and writing the
#     masks included) with --batch BATCH --threads THREADS; tiles/s = tiles / wall time (and, in
#     brackets, over the seconds of report.json: the images alone, without start-up). ONNX
#     Runtime: pure inference of the same tiles in the same batches (intra-op THREADS, default
#     session options otherwise; one warm-up batch untimed). Interleaved (Tessera, ONNX, …),
#     median of RUNS. Goal: ratio ≥ 1.0×.
#  2. Memory: peak RSS (bench/measure.py) and wall time of `tessera segment` on one LARGE×LARGE
#     RGB image (bench/make_large_image.py: an uncompressed striped TIFF) with LARGE_MODEL,
#     --tile 512 --overlap 64. Goal: under 2 GiB. (20000² is 2025 tiles: allow an hour or more
#     on 2 cores.)
#  3. Next to it: MONAI's sliding_window_inference (segment_monai.py: the image read whole,
#     roi 512, sw_batch_size BATCH, overlap 64/512, mode gaussian, MONAI's defaults otherwise) on
#     square images of MONAI_SIZES in turn, each a process under measure.py; the largest size
#     that stayed within Tessera's peak, and its peak. The first size always runs to the end (its
#     peak is exact even when it does not fit); the others stop themselves once past the budget.
# Usage: bench/segment.sh [RUNS] [MODEL...]   (default: 3 runs; half-multiresunet unet-bn)
# Environment: THREADS (2), BATCH (4), IMAGES (2), GRID (4), LARGE (20000), LARGE_MODEL
# (half-multiresunet), MONAI_SIZES ("1024 2000 4000 6000 8000 10000 12000 14000 16000 20000");
# TESSERA=path uses that binary as it is instead of building the release.
source "$(dirname "$0")/common.sh"
runs=${1:-3}; shift || true
models=("$@"); [ ${#models[@]} -eq 0 ] && models=(half-multiresunet unet-bn)
threads=${THREADS:-2}; batch=${BATCH:-4}; images=${IMAGES:-2}; grid=${GRID:-4}
large=${LARGE:-20000}; large_model=${LARGE_MODEL:-half-multiresunet}
read -r -a monai_sizes <<< "${MONAI_SIZES:-1024 2000 4000 6000 8000 10000 12000 14000 16000 20000}"
tile=512; overlap=64
side=$((tile + (grid - 1) * (tile - overlap)))

use_tessera
venv="${BENCH_VENV:-$bench/.venv-segment}"
make_venv torch onnx onnxruntime safetensors numpy Pillow monai tifffile
export PYTHONWARNINGS=ignore
machine
echo "tessera $("$tessera" --version) (OpenBLAS $("$tessera" models quarter-multiresunet --benchmark --size 16 --runs 1 --json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["blas_kernels"])') kernels)," \
    "$("$py" -c 'import torch, onnxruntime, monai; print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, monai {monai.__version__}")' 2>/dev/null)"

seg="$work/segment"
mkdir -p "$seg/images" "$seg/runs" "$seg/out"
results="$seg/results.jsonl"
: > "$results"

# Checkpoints: one epoch of `tessera train` on the embedded sample, kept while newer than the binary.
"$tessera" prepare "$root/samples/images" --masks "$root/samples/masks" --out "$seg/data" \
    --tile-size "$tile" --overlap "$overlap" --folds 2 --overwrite -q > /dev/null
checkpoint() {
    local model=$1 run="$seg/runs/$1"
    local file="$run/fold-0/last.safetensors"
    if [ ! -f "$file" ] || [ "$tessera" -nt "$file" ]; then
        echo "training a checkpoint of $model (1 epoch on the sample)…" >&2
        "$tessera" train "$seg/data" --model "$model" --out "$run" --fold 0 --epochs 1 --batch-size 2 \
            --threads "$threads" --set samples=0 --overwrite -q > /dev/null
    fi
    echo "$file"
}
image() {  # SIDE SEED → the path of a synthetic SIDE² TIFF, made once
    local path="$seg/images/$1-$2.tif"
    [ -f "$path" ] || "$py" "$bench/make_large_image.py" "$path" "$1" --seed "$2" > /dev/null
    echo "$path"
}

# 1. Speed.
set_dir="$seg/images/set-$side-$images"
mkdir -p "$set_dir"
for ((i = 1; i <= images; i++)); do
    [ -f "$set_dir/img-$i.tif" ] || "$py" "$bench/make_large_image.py" "$set_dir/img-$i.tif" "$side" --seed "$i" > /dev/null
done
check=$(image "$tile" 1000)
echo "speed: $images image(s) of ${side}² = ${grid}×${grid} tiles of ${tile}² (overlap $overlap), batch $batch, $threads threads, $runs run(s)"
for model in "${models[@]}"; do
    ckpt=$(checkpoint "$model")
    onnx="$seg/runs/$model.onnx"
    echo "== $model"
    "$tessera" segment "$check" --model "$ckpt" --out "$seg/out/check-$model" --tile "$tile" --overlap "$overlap" \
        --probabilities --threads "$threads" --overwrite -q > /dev/null
    "$py" "$bench/reference/segment_onnx.py" export "$ckpt" "$onnx" --image "$check" \
        --tessera-probabilities "$seg/out/check-$model/probabilities/$(basename "$check" .tif).png"
    for ((r = 1; r <= runs; r++)); do
        out="$seg/out/speed-$model"
        "$py" "$bench/measure.py" 1 -- "$tessera" segment "$set_dir" --model "$ckpt" --out "$out" --tile "$tile" \
            --overlap "$overlap" --batch "$batch" --threads "$threads" --overwrite -q |
            "$py" -c 'import json, sys
m = json.load(sys.stdin); rep = json.load(open(sys.argv[3]))
done = [i for i in rep["images"] if i["status"] == "done"]
row = {"part": "speed", "model": sys.argv[1], "run": int(sys.argv[2]), "runtime": "tessera", "tiles": sum(i["tiles"] for i in done),
       "seconds": m["median_s"], "image_seconds": sum(i["seconds"] for i in done), "peak_rss_mb": m["peak_rss_mb"]}
print(json.dumps(row))' "$model" "$r" "$out/report.json" | tee -a "$results"
        "$py" "$bench/reference/segment_onnx.py" time "$onnx" "$set_dir"/img-*.tif --tile "$tile" --overlap "$overlap" \
            --batch "$batch" --threads "$threads" |
            "$py" -c 'import json, sys
row = json.load(sys.stdin); row.update(part="speed", model=sys.argv[1], run=int(sys.argv[2])); print(json.dumps(row))' "$model" "$r" |
            tee -a "$results"
    done
done

# 2. Tessera's memory on one large image.
echo "== memory: tessera segment on ${large}², $large_model"
ckpt=$(checkpoint "$large_model")
big=$(image "$large" 0)
"$py" "$bench/measure.py" 1 -- "$tessera" segment "$big" --model "$ckpt" --out "$seg/out/large" --tile "$tile" \
    --overlap "$overlap" --batch "$batch" --threads "$threads" --overwrite -q |
    "$py" -c 'import json, sys
m = json.load(sys.stdin); rep = json.load(open(sys.argv[3]))["images"][0]
print(json.dumps({"part": "large", "runtime": "tessera", "model": sys.argv[1], "size": int(sys.argv[2]), "tiles": rep["tiles"],
                  "seconds": m["median_s"], "peak_rss_mb": m["peak_rss_mb"]}))' "$large_model" "$large" "$seg/out/large/report.json" |
    tee -a "$results"
budget=$("$py" -c 'import json, sys; print([json.loads(l) for l in open(sys.argv[1]) if "\"large\"" in l][-1]["peak_rss_mb"])' "$results")

# 3. MONAI within the same memory.
echo "== memory: MONAI sliding_window_inference within ${budget%.*} MB"
for size in "${monai_sizes[@]}"; do
    made=0; path="$seg/images/$size-0.tif"; [ -f "$path" ] || made=1
    path=$(image "$size" 0)
    rm -f "$seg/out/monai-$size.json"
    "$py" "$bench/measure.py" 1 -- "$py" "$bench/reference/segment_monai.py" "$ckpt" "$path" "$seg/out/monai-$size.png" \
        --tile "$tile" --overlap "$overlap" --batch "$batch" --threads "$threads" --json-out "$seg/out/monai-$size.json" \
        $([ "$size" = "${monai_sizes[0]}" ] || echo "--stop-above $budget") |
        "$py" -c 'import json, sys
m = json.load(sys.stdin); own = json.load(open(sys.argv[3]))
print(json.dumps({"part": "monai", "runtime": "monai", "model": sys.argv[1], "size": int(sys.argv[2]), "seconds": m["median_s"],
                  "peak_rss_mb": m["peak_rss_mb"], "stopped": own["stopped"], "fits": m["peak_rss_mb"] <= float(sys.argv[4])}))' \
        "$large_model" "$size" "$seg/out/monai-$size.json" "$budget" | tee -a "$results"
    [ "$made" = 1 ] && [ "$size" != "$large" ] && rm -f "$path"
    tail -1 "$results" | grep -q '"fits": true' || break
done

echo
"$py" - "$results" "$budget" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
budget = float(sys.argv[2])
mark = lambda ok: "✓" if ok else "✗"
print("| model | tiles | tessera tiles/s, whole run (images only) | onnxruntime tiles/s | ratio | tessera peak RSS |")
print("|---|---|---|---|---|---|")
for model in dict.fromkeys(r["model"] for r in rows if r["part"] == "speed"):
    t = [r for r in rows if r["part"] == "speed" and r["model"] == model and r["runtime"] == "tessera"]
    o = [r for r in rows if r["part"] == "speed" and r["model"] == model and r["runtime"] == "onnxruntime"]
    tiles = t[0]["tiles"]
    if any(r["tiles"] != tiles for r in t + o):
        print(f"warning: {model}: tile counts differ: {sorted({r['tiles'] for r in t + o})}", file=sys.stderr)
    tr = statistics.median(r["tiles"] / r["seconds"] for r in t)
    ti = statistics.median(r["tiles"] / r["image_seconds"] for r in t)
    orr = statistics.median(r["tiles_per_s"] for r in o)
    print(f"| {model} | {tiles} | {tr:.3f} ({ti:.3f}) | {orr:.3f} | {tr / orr:.2f}× {mark(tr / orr >= 1.0)} | "
          f"{max(r['peak_rss_mb'] for r in t):.0f} MB |")
print()
large = [r for r in rows if r["part"] == "large"][-1]
monai = [r for r in rows if r["part"] == "monai"]
fit = [r for r in monai if r["fits"]]
over = [r for r in monai if not r["fits"]]
print("| run | image | model | peak RSS | wall | note |")
print("|---|---|---|---|---|---|")
print(f"| tessera segment | {large['size']}² ({large['tiles']} tiles) | {large['model']} | {large['peak_rss_mb']:.0f} MB "
      f"{mark(large['peak_rss_mb'] < 2048)} | {large['seconds']:.0f} s | goal < 2048 MB |")
if fit:
    best = max(fit, key=lambda r: r["size"])
    print(f"| MONAI sliding_window_inference, largest within Tessera's peak | {best['size']}² | {best['model']} | "
          f"{best['peak_rss_mb']:.0f} MB | {best['seconds']:.0f} s | |")
else:
    print(f"| MONAI sliding_window_inference, largest within Tessera's peak | none of {', '.join(str(r['size']) for r in monai)} | "
          f"{large['model']} | | | |")
for r in over:
    how = "stopped itself once past the budget" if r["stopped"] else "ran to the end"
    print(f"| MONAI sliding_window_inference, first size over | {r['size']}² | {r['model']} | {'≥ ' if r['stopped'] else ''}{r['peak_rss_mb']:.0f} MB | "
          f"{r['seconds']:.0f} s | {how} |")
print()
print(f"tiles/s: tiles over the wall time of the whole `tessera segment` process (in brackets: over report.json's seconds, "
      f"the images alone), against ONNX Runtime's pure inference of the same tiles in the same batches; median of the runs. "
      f"Peak RSS: of the process (wait4). MONAI's budget is Tessera's peak on the large image ({budget:.0f} MB); "
      f"a MONAI process after the first size stops itself once past it, so its peak there is a lower bound.")
EOF
