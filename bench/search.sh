#!/usr/bin/env bash
# `tessera search` (AutoSegNet's architecture search, 004_…) on real data, and what it finds, in
# one run on this machine: the 47 axial brain-MRI slices of bench/data/extract.sh (mri), whole
# slices zero-padded from 181×217 to 192×224, 5 folds by source slice (as bench/train.sh).
#   1. A search at 64×64 (the paper's size; 2 poolings from min size 16 and min ratio 1/32) of
#      SEARCH_EPOCHS epochs, children scored on fold 0, seed 0, THREADS threads.
#   2. Three networks trained from scratch with one recipe (Adam, lr 1e-3 constant, BCE, batch 4,
#      TRAIN_EPOCHS epochs, seed 0) on folds 0…FOLDS-1: autosegnet with the found genome (the
#      search's model-config.json, widths from TRAIN_WIDTH), autosegnet with the plugin's
#      hand-written example genome at the same depth and widths, and unet-bn (its defaults).
# Reports the controller's reward over the search (RUN/reward.png, and the mean reward of the
# first and last tenth of the epochs), then per network and fold the best validation IoU, and the
# parameters and GFLOPs (convolutions, one 192×224 slice).
# Usage: bench/search.sh   Environment: SEARCH_EPOCHS (150), TRAIN_EPOCHS (30), FOLDS (2),
# THREADS (2), TRAIN_WIDTH (8); TESSERA=path uses that binary as it is.
source "$(dirname "$0")/common.sh"
search_epochs=${SEARCH_EPOCHS:-150}; train_epochs=${TRAIN_EPOCHS:-30}; folds=${FOLDS:-2}; threads=${THREADS:-2}
train_width=${TRAIN_WIDTH:-8}

use_tessera
bench_tool="$root/.build/release/tessera-bench"
(cd "$root" && swift build -c release --product tessera-bench 2>&1 | grep -E "error" || true)
machine
echo "tessera $("$tessera" --version)"

data="$work/search"
mkdir -p "$data/runs"
mri_dataset "$data"

echo "== search: $search_epochs epochs at 64×64, $threads threads"
start=$(date +%s)
"$tessera" search "$data/mri" --out "$data/runs/search" --epochs "$search_epochs" --fold 0 --seed 0 --threads "$threads" \
    --train-width "$train_width" --overwrite -q | tee "$data/runs/search.txt"
echo "search wall time: $(( $(date +%s) - start )) s"

# The plugin's hand-written example genome (its default) at the found network's depth and widths.
"$tessera" models autosegnet | sed -n '/^{/,/^}/p' > "$data/runs/autosegnet-defaults.json"
python3 - "$data/runs/search/model-config.json" "$data/runs/autosegnet-defaults.json" "$data/runs/default-config.json" <<'EOF'
import json, sys
found, defaults = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
config = dict(found, genome=dict(defaults["genome"], long_skips=[True] * len(found["genome"]["long_skips"])))
json.dump(config, open(sys.argv[3], "w"), indent=1)
EOF
echo '{"input_channels": 1}' > "$data/runs/unet-config.json"

results="$data/runs/results.tsv"
: > "$results"
for k in $(seq 0 $((folds - 1))); do
    for entry in "found autosegnet $data/runs/search/model-config.json" "example autosegnet $data/runs/default-config.json" \
                 "unet-bn unet-bn $data/runs/unet-config.json"; do
        read -r label model config <<< "$entry"
        out="$data/runs/$label-fold$k"
        echo "== $label fold $k"
        "$tessera" train "$data/mri" --model "$model" --model-config "$config" --out "$out" --fold "$k" --epochs "$train_epochs" \
            --batch-size 4 --lr 1e-3 --loss bce --threads "$threads" --seed 0 --set samples=0 --overwrite -q | tail -1
        printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$k" "$out/fold-$k/metrics.jsonl" "$model" "$config" >> "$results"
    done
done

echo
python3 - "$results" "$data/runs/search/search.jsonl" "$data/runs/search/genome.json" "$bench_tool" <<'EOF'
import json, math, statistics, subprocess, sys
results, log, genome, tool = sys.argv[1:5]
records = [json.loads(l) for l in open(log) if l.strip()]
def finite(v):
    return isinstance(v, (int, float)) and not math.isnan(v)
tenth = max(1, len(records) // 10)
first = [r["reward_mean"] for r in records[:tenth] if finite(r["reward_mean"])]
last = [r["reward_mean"] for r in records[-tenth:] if finite(r["reward_mean"])]
print(f"search: {len(records)} epochs, {sum(r['seconds'] for r in records) / 60:.1f} min; controller reward (IoU of sampled children "
      f"on validation minibatches) mean over the first {tenth} epochs {statistics.mean(first):.3f}, over the last {tenth} "
      f"{statistics.mean(last):.3f}; entropy {records[0]['entropy']:.2f} → {records[-1]['entropy']:.2f} nats; "
      f"children skipped {sum(r['skipped'] for r in records)}")
g = json.load(open(genome))
print(f"found: {g['summary']}; IoU with the shared weights on fold 0: {g['iou']:.3f}")
print()
rows = {}
for line in open(results):
    label, fold, metrics, model, config = line.rstrip("\n").split("\t")
    best = max((r.get("val", {}).get("iou", math.nan) for r in map(json.loads, open(metrics))), key=lambda v: v if finite(v) else -1)
    rows.setdefault(label, {"model": model, "config": config, "folds": {}})["folds"][fold] = best
print("| network | " + " | ".join(f"best val IoU fold {f}" for f in sorted(next(iter(rows.values()))["folds"])) + " | mean | parameters | GFLOPs (192×224) |")
print("|---|" + "---|" * (len(next(iter(rows.values()))["folds"]) + 3))
for label, row in rows.items():
    counted = json.loads(subprocess.run([tool, "--count", row["model"], row["config"], "224", "192", "1"], capture_output=True, text=True, check=True).stdout)
    ious = [row["folds"][f] for f in sorted(row["folds"])]
    name = {"found": "autosegnet, found genome", "example": "autosegnet, hand-written genome", "unet-bn": "unet-bn"}[label]
    print(f"| {name} | " + " | ".join(f"{v:.4f}" for v in ious) + f" | {statistics.mean(ious):.4f} | {counted['parameters'] / 1e6:.2f} M | {counted['gflops']:.1f} |")
EOF
echo "reward chart: $data/runs/search/reward.png"
