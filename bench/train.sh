#!/usr/bin/env bash
# `tessera train` against the same training in PyTorch (bench/reference/train_torch.py), in one run
# on this machine, on real data: the 47 axial brain-MRI slices of bench/data/extract.sh (mri),
# whole slices zero-padded from 181×217 to 192×224 (`--pad multiple:16 --tile-size 0`, so every
# tile has one size and batches of 4 work), 5 folds by source slice, seed 0.
# For each model and folds 0…FOLDS-1, interleaved (Tessera fold K, PyTorch fold K, …): Adam
# (ε 1e-7), constant lr, BCE on probabilities, batch 4, THREADS compute threads and one loader
# thread/worker each. Reports per model and fold the best validation IoU (pooled over the held-out
# slices, p > 0.5) of both and their difference (goal |Δ| ≤ 0.02), the whole-epoch training
# throughput (images/s, data loading included, median over the epochs after the first) and its
# ratio (goal ≥ 1.3×), and the peak RSS of each whole training process (bench/measure.py; goal:
# Tessera below PyTorch). Both start from their own seeded random weights (Tessera's and PyTorch's
# default initialization), so the IoUs agree only as well as two seeds of one recipe do.
# Usage: bench/train.sh [EPOCHS] [MODEL...]   (default: 20 epochs; half-multiresunet unet-bn)
# Environment: FOLDS (2), THREADS (2), BATCH (4), LR (1e-3), LOSS (bce), SCHEDULE (constant);
# TESSERA=path uses that binary as it is instead of building the release.
source "$(dirname "$0")/common.sh"
epochs=${1:-20}; shift || true
models=("$@"); [ ${#models[@]} -eq 0 ] && models=(half-multiresunet unet-bn)
folds=${FOLDS:-2}; threads=${THREADS:-2}; batch=${BATCH:-4}; lr=${LR:-1e-3}; loss=${LOSS:-bce}; schedule=${SCHEDULE:-constant}

use_tessera
venv="${BENCH_VENV:-$bench/.venv-train}"
make_venv torch numpy Pillow safetensors
machine
echo "tessera $("$tessera" --version), torch $("$py" -c 'import torch; print(torch.__version__)')"

# The data: extracted, then prepared as whole padded slices.
data="$work/train"
mkdir -p "$data/runs"
mri_dataset "$data"
"$py" - "$data/mri" <<'EOF'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/manifest.csv")))
info = json.load(open(sys.argv[1] + "/dataset.json"))
sizes = sorted({f"{r['w']}×{r['h']}" for r in rows})
print(f"prepared: {len(rows)} tiles of {', '.join(sizes)}, {info['bands']} band(s), folds of {info['folds']} tiles, "
      f"foreground {info['class_pixel_counts'][1] / sum(info['class_pixel_counts']):.1%} of the pixels")
EOF
echo "training: $epochs epochs, batch $batch, lr $lr, loss $loss, schedule $schedule, $threads threads, folds 0…$((folds - 1))"

results="$data/runs/results.tsv"
: > "$results"
for model in "${models[@]}"; do
    mkdir -p "$data/runs/$model"
    for ((k = 0; k < folds; k++)); do
        dir="$data/runs/$model"
        echo "== $model fold $k: tessera"
        "$py" "$bench/measure.py" 1 -- "$tessera" train "$data/mri" --model "$model" --out "$dir/tessera-fold$k" \
            --fold "$k" --epochs "$epochs" --batch-size "$batch" --lr "$lr" --loss "$loss" --schedule "$schedule" \
            --threads "$threads" --set samples=0 --set loader_threads=1 --overwrite -q > "$dir/tessera-fold$k.measure.json"
        cat "$dir/tessera-fold$k/fold-$k/metrics.jsonl"
        echo "== $model fold $k: pytorch"
        "$py" "$bench/measure.py" 1 -- "$py" "$bench/reference/train_torch.py" "$data/mri" --model "$model" \
            --fold "$k" --epochs "$epochs" --batch-size "$batch" --lr "$lr" --loss "$loss" --schedule "$schedule" \
            --threads "$threads" --workers 1 --seed 0 --json-out "$dir/torch-fold$k.jsonl" > "$dir/torch-fold$k.measure.json"
        cat "$dir/torch-fold$k.jsonl"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$model" "$k" "$dir/tessera-fold$k/fold-$k/metrics.jsonl" "$dir/tessera-fold$k.measure.json" \
            "$dir/torch-fold$k.jsonl" "$dir/torch-fold$k.measure.json" >> "$results"
    done
done

echo
"$py" - "$results" <<'EOF'
import json, math, statistics, sys


def lines(path):
    return [json.loads(l) for l in open(path) if l.strip()]


def best(values):
    finite = [(v, e) for e, v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return max(finite, key=lambda t: t[0]) if finite else (math.nan, 0)


def median_after_first(rates):
    return statistics.median(rates[1:] if len(rates) > 1 else rates)


print("| model | fold | best val IoU tessera (epoch) | best val IoU pytorch (epoch) | Δ IoU | img/s tessera | img/s pytorch | "
      "speed-up | peak RSS tessera | peak RSS pytorch (its worker) | wall tessera | wall pytorch |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for row in open(sys.argv[1]):
    model, fold, t_metrics, t_measure, p_metrics, p_measure = row.rstrip("\n").split("\t")
    t = lines(t_metrics)
    p = lines(p_metrics)
    tm, pm = json.load(open(t_measure)), json.load(open(p_measure))
    final = next(r for r in p if r.get("final"))
    epochs = [r for r in p if not r.get("final")]
    t_iou, t_epoch = best([(r["epoch"], r.get("val", {}).get("iou")) for r in t])
    p_iou, p_epoch = best([(r["epoch"], r["val_iou"]) for r in epochs])
    t_rate = median_after_first([r["images_per_s"] for r in t])
    p_rate = median_after_first([r["images_per_s"] for r in epochs])
    delta, ratio = t_iou - p_iou, t_rate / p_rate
    mark = lambda ok: "✓" if ok else "✗"
    print(f"| {model} | {fold} | {t_iou:.4f} ({t_epoch}) | {p_iou:.4f} ({p_epoch}) | {delta:+.4f} {mark(abs(delta) <= 0.02)} | "
          f"{t_rate:.2f} | {p_rate:.2f} | {ratio:.2f}× {mark(ratio >= 1.3)} | "
          f"{tm['peak_rss_mb']:.0f} MB {mark(tm['peak_rss_mb'] < pm['peak_rss_mb'])} | "
          f"{pm['peak_rss_mb']:.0f} MB ({final['peak_rss_workers_mb']:.0f} MB) | {tm['median_s']:.0f} s | {pm['median_s']:.0f} s |")
print()
print("Goals: |Δ IoU| ≤ 0.02, speed-up ≥ 1.3×, Tessera's peak RSS below PyTorch's. img/s: training tiles over the wall time "
      "of an epoch's training part, data loading included, median over the epochs after the first. Peak RSS: of the whole "
      "process (wait4); PyTorch's DataLoader worker is a process of its own, whose peak is shown in brackets and is not added.")
EOF
