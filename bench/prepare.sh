#!/usr/bin/env bash
# Wall time, CPU time, peak memory and output size of `tessera prepare` (tiles 512/100, gray-world,
# 2 augmented copies) on 1440×1440 photos, next to albumentations + OpenCV doing the same steps as
# its users write it (plain cv2.imwrite, OpenCV's PNG defaults) in one and in two processes, and a
# labelled variant with an explicit cv2.IMWRITE_PNG_COMPRESSION level 1; all sides interleaved in
# one run on this machine (a warm-up round, then RUNS rounds). Peak memory is also measured at 10
# images to show it does not grow with the number of images, and every PNG tessera wrote is
# decoded with Pillow and with OpenCV to the same pixels.
# Usage: bench/prepare.sh [IMAGES] [RUNS] [--two-processes]
#   --two-processes   time the references in two processes only (the ratio that counts), not
#                     also in one (bench/run --quick)
source "$(dirname "$0")/common.sh"
count="${1:-16}"
runs="${2:-5}"
one_process=yes
[ "${3:-}" = "--two-processes" ] && one_process=no
build_release
make_venv numpy pillow albumentations opencv-python-headless
data="$work/photos-$count"
small="$work/photos-10"
[ -d "$data/images" ] || "$py" "$bench/make_photos.py" "$data" "$count"
[ -d "$small/images" ] || "$py" "$bench/make_photos.py" "$small" 10
machine
"$py" -c 'import cv2, albumentations; print(f"OpenCV {cv2.__version__}, albumentations {albumentations.__version__}")'

args=(--color gray-world --tile-size 512 --overlap 100 --augment 2 --folds 5 --overwrite -q)
ref="$bench/reference/prepare_albumentations.py"
single=()
[ "$one_process" = yes ] && single=(ref1@"$work/prep-ref1" -- "$py" "$ref" "$data/images" "$data/masks" "$work/prep-ref1" --workers 1 :::)
rm -rf "$work/prep-ref1"
results=$("$py" "$bench/interleave.py" "$runs" \
    tessera -- "$tessera" prepare "$data/images" --masks "$data/masks" --out "$work/prep-tessera" "${args[@]}" ::: \
    "${single[@]}" \
    ref2@"$work/prep-ref2" -- "$py" "$ref" "$data/images" "$data/masks" "$work/prep-ref2" --workers 2 ::: \
    ref2l1@"$work/prep-ref2l1" -- "$py" "$ref" "$data/images" "$data/masks" "$work/prep-ref2l1" --workers 2 --png-compression 1)
small_run=$("$py" "$bench/measure.py" 1 -- "$tessera" prepare "$small/images" --masks "$small/masks" --out "$work/prep-tessera-small" "${args[@]}")
sizes=$(for d in prep-tessera prep-ref1 prep-ref2 prep-ref2l1; do
    [ -d "$work/$d" ] || continue
    printf '"%s": [%s, %s], ' "$d" "$(ls "$work/$d/images" | wc -l)" "$(du -sk "$work/$d/images" "$work/$d/masks" | awk '{s += $1} END {print s}')"
done)
# Every PNG tessera wrote decodes in Pillow and in OpenCV to the same pixels.
"$py" - "$work/prep-tessera" <<'PY'
import os, sys
import cv2, numpy as np
from PIL import Image
root, checked = sys.argv[1], 0
for sub in ("images", "masks"):
    for name in sorted(os.listdir(f"{root}/{sub}")):
        path = f"{root}/{sub}/{name}"
        pil = np.asarray(Image.open(path))
        cv = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if cv.ndim == 3:
            cv = cv2.cvtColor(cv, cv2.COLOR_BGR2RGB)
        if pil.shape != cv.shape or not np.array_equal(pil, cv):
            sys.exit(f"{path}: Pillow and OpenCV decode different pixels")
        checked += 1
print(f"decoded {checked} PNGs written by tessera with Pillow and OpenCV: identical pixels")
PY
"$py" - "$count" "$results" "$small_run" "{${sizes%, }}" <<'PY'
import json, sys
n = int(sys.argv[1])
r, small, sizes = json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
rows = [("tessera prepare (2 threads)", "tessera", "prep-tessera"),
        ("albumentations + OpenCV, 1 process", "ref1", "prep-ref1"),
        ("albumentations + OpenCV, 2 processes", "ref2", "prep-ref2"),
        ("  variant: explicit PNG level 1, 2 processes", "ref2l1", "prep-ref2l1")]
for label, key, folder in rows:
    if key not in r:
        continue
    m = r[key]
    tiles, kb = sizes[folder]
    print(f"{label:46s}: {m['median_s']:6.2f} s median, {n / m['median_s']:5.2f} images/s, {m['cpu_s'] / n:5.2f} CPU-s/image, "
          f"peak RSS {m['peak_rss_mb']:5.0f} MB, {tiles} tiles, {kb / 1024:6.1f} MB written")
t = r["tessera"]["median_s"]
one = f"{r['ref1']['median_s'] / t:.2f}x one default process, " if "ref1" in r else ""
print(f"ratio: {one}{r['ref2']['median_s'] / t:.2f}x two default processes, "
      f"{r['ref2l1']['median_s'] / t:.2f}x two processes at explicit level 1")
print(f"tessera peak RSS: {small['peak_rss_mb']:.0f} MB for 10 images, {r['tessera']['peak_rss_mb']:.0f} MB for {n}")
print("(peak RSS is that of the largest process: wait4 reports the process and its reaped children)")
PY
