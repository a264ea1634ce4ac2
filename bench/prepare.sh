#!/usr/bin/env bash
# Images per second and peak memory of `tessera prepare` (tiles 512/100, gray-world, 2 augmented
# copies) on 1440×1440 photos, next to albumentations + OpenCV doing the same steps, in one run on
# this machine. Peak memory is measured at two dataset sizes to show it does not grow with the
# number of images. Usage: bench/prepare.sh [IMAGES] [RUNS]
source "$(dirname "$0")/common.sh"
count="${1:-40}"
runs="${2:-3}"
build_release
make_venv numpy pillow albumentations opencv-python-headless
data="$work/photos-$count"
small="$work/photos-10"
[ -d "$data/images" ] || "$py" "$bench/make_photos.py" "$data" "$count"
[ -d "$small/images" ] || "$py" "$bench/make_photos.py" "$small" 10
machine

args=(--color gray-world --tile-size 512 --overlap 100 --augment 2 --folds 5 --overwrite -q)
t=$("$py" "$bench/measure.py" "$runs" -- "$tessera" prepare "$data/images" --masks "$data/masks" --out "$work/prep-tessera" "${args[@]}")
ts=$("$py" "$bench/measure.py" 1 -- "$tessera" prepare "$small/images" --masks "$small/masks" --out "$work/prep-tessera-small" "${args[@]}")
rm -rf "$work/prep-ref"
r1=$("$py" "$bench/measure.py" "$runs" -- "$py" "$bench/reference/prepare_albumentations.py" "$data/images" "$data/masks" "$work/prep-ref" --workers 1)
r2=$("$py" "$bench/measure.py" "$runs" -- "$py" "$bench/reference/prepare_albumentations.py" "$data/images" "$data/masks" "$work/prep-ref" --workers 2)
echo "tiles written: tessera $(ls "$work/prep-tessera/images" | wc -l), reference $(ls "$work/prep-ref/images" | wc -l)"
"$py" - "$count" "$t" "$ts" "$r1" "$r2" <<'PY'
import json, sys
n = int(sys.argv[1]); t, ts, r1, r2 = (json.loads(a) for a in sys.argv[2:6])
def line(label, m):
    print(f"{label:38s}: {m['median_s']:7.2f} s median, {n / m['median_s']:6.2f} images/s, peak RSS {m['peak_rss_mb']:6.0f} MB")
line("tessera prepare", t)
line("albumentations + OpenCV, 1 process", r1)
line("albumentations + OpenCV, 2 processes", r2)
print(f"ratio: {r1['median_s'] / t['median_s']:.2f}x the 1-process reference, {r2['median_s'] / t['median_s']:.2f}x the 2-process reference")
print(f"tessera peak RSS: {ts['peak_rss_mb']:.0f} MB for 10 images, {t['peak_rss_mb']:.0f} MB for {n}")
print("(peak RSS is that of the largest process: wait4 reports the process and its reaped children)")
PY
