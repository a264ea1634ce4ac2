#!/usr/bin/env bash
# Images per second and peak memory of `tessera prepare` (tiles 512/100, gray-world, 2 augmented
# copies) on 1440×1440 photos, next to albumentations + OpenCV doing the same steps, in one run on
# this machine. Peak memory is measured at two dataset sizes to show it does not grow with the
# number of images. It also times the libvips floor (bench/prepare_floor.c: the PNG writes and warps
# prepare cannot leave out, alone), which bounds the ratio any libvips pipeline can reach here, and
# repeats both tools at PNG level 0, where the encoder no longer dominates.
# Usage: bench/prepare.sh [IMAGES] [RUNS]
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
echo "dataset size at level 1: tessera $(du -sm "$work/prep-tessera" | cut -f1) MB, reference $(du -sm "$work/prep-ref" | cut -f1) MB"

# The same at PNG level 0 (stored, no deflate), both tools.
t0=$("$py" "$bench/measure.py" "$runs" -- "$tessera" prepare "$data/images" --masks "$data/masks" --out "$work/prep-tessera-0" "${args[@]}" --png-compression 0)
rm -rf "$work/prep-ref-0"
r0=$("$py" "$bench/measure.py" "$runs" -- "$py" "$bench/reference/prepare_albumentations.py" "$data/images" "$data/masks" "$work/prep-ref-0" --workers 1 --png-compression 0)
echo "dataset size at level 0: tessera $(du -sm "$work/prep-tessera-0" | cut -f1) MB, reference $(du -sm "$work/prep-ref-0" | cut -f1) MB"

# The libvips floor, over the first 5 sources.
floor_bin="$work/prepare_floor"
floor='{}'
if ${CC:-cc} -O2 "$bench/prepare_floor.c" -o "$floor_bin" $(pkg-config --cflags --libs vips) -lm; then
    pairs=()
    for image in $(ls "$data/images" | head -5); do pairs+=("$data/images/$image" "$data/masks/${image%.*}.png"); done
    rm -rf "$work/floor" && mkdir -p "$work/floor"
    floor=$("$floor_bin" "$work/floor" "${pairs[@]}")
    rm -rf "$work/floor"
else
    echo "no C compiler: the floor is left out"
fi
"$py" - "$count" "$(nproc)" "$t" "$ts" "$r1" "$r2" "$t0" "$r0" "$floor" <<'PY'
import json, sys
n, cores = int(sys.argv[1]), int(sys.argv[2])
t, ts, r1, r2, t0, r0, floor = (json.loads(a) for a in sys.argv[3:10])
def line(label, m):
    print(f"{label:44s}: {m['median_s']:7.2f} s median, {n / m['median_s']:6.2f} images/s, "
          f"{m['cpu_s'] / n:5.2f} CPU-s per image, peak RSS {m['peak_rss_mb']:6.0f} MB")
line("tessera prepare", t)
line("albumentations + OpenCV, 1 process", r1)
line("albumentations + OpenCV, 2 processes", r2)
print(f"ratio: {r1['median_s'] / t['median_s']:.2f}x the 1-process reference, {r2['median_s'] / t['median_s']:.2f}x the 2-process reference")
print(f"tessera peak RSS: {ts['peak_rss_mb']:.0f} MB for 10 images, {t['peak_rss_mb']:.0f} MB for {n}")
print("(peak RSS is that of the largest process: wait4 reports the process and its reaped children)")
print("at PNG level 0 (both tools):")
line("tessera prepare --png-compression 0", t0)
line("albumentations + OpenCV, 1 process, level 0", r0)
print(f"ratio at level 0: {r0['median_s'] / t0['median_s']:.2f}x the 1-process reference")
if floor:
    f = floor["floor_cpu_s_per_source"]
    print(f"libvips floor (PNG writes and warps alone, median of {floor['sources']} sources): {f:.2f} CPU-s per image "
          f"(tiles {floor['tile_png']:.2f}, warped copies {floor['copy_warp_png']:.2f}, masks {floor['mask_png']:.2f}, "
          f"warped masks {floor['mask_copy_warp_png']:.2f})")
    print(f"ceiling on {cores} cores, all other work free: {r1['median_s'] / n / (f / cores):.2f}x the 1-process reference; "
          f"3x needs at most {r1['median_s'] / n * cores / 3:.2f} CPU-s per image")
PY
