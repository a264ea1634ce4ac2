# Shared set-up for the benchmarks: a release build and the reference virtualenv.
set -euo pipefail
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$bench")
venv="${BENCH_VENV:-$bench/.venv}"
work="${BENCH_WORK:-$bench/out}"
mkdir -p "$work"

# OpenBLAS chooses its kernels and cache sizes from the CPU. A machine whose environment pins them
# (OPENBLAS_CORETYPE=Haswell and OPENBLAS_L2_SIZE=512 on an AVX-512 EPYC with 1 MB of L2 per
# core, set for reproducible sums in tests) would time both sides — Tessera's GEMMs and NumPy's —
# with kernels a user of that CPU does not get; the benchmarks run with the library's own choice.
# BENCH_KEEP_OPENBLAS_ENV=1 keeps the environment's settings.
openblas_unset=""
if [ "${BENCH_KEEP_OPENBLAS_ENV:-0}" != 1 ]; then
    for name in OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; do
        if [ -n "${!name:-}" ]; then openblas_unset+="$name=${!name} "; unset "$name"; fi
    done
fi

build_release() {
    (cd "$root" && swift build -c release 2>&1 | grep -E "error|Compiling|Build complete" | tail -1)
    tessera="$root/.build/release/tessera"
}

use_tessera() {
    # TESSERA=path uses that binary as it is (with a warning when sources are newer); else a release build.
    if [ -n "${TESSERA:-}" ]; then
        tessera=$TESSERA
        [ -x "$tessera" ] || { echo "TESSERA=$tessera is not an executable" >&2; exit 1; }
        local newer
        newer=$(find "$root/Sources" "$root/Package.swift" -name '*.swift' -newer "$tessera" | head -3 | tr '\n' ' ')
        [ -z "$newer" ] || echo "warning: $tessera is older than ${newer}…: the figures are those of an earlier build" >&2
    else
        build_release
    fi
}

make_venv() {
    # $@: packages the reference needs, from PyPI.
    if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
    py="$venv/bin/python"
}

machine() {
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB"
    [ -z "$openblas_unset" ] || echo "OpenBLAS: its own kernel choice (unset from the environment: ${openblas_unset% })"
}

mri_dataset() {
    # $1: a work folder. Extracts the brain-MRI slices (bench/data/extract.sh), prints their source
    # and licence, and prepares them in $1/mri as bench/train.sh and bench/search.sh use them:
    # whole slices zero-padded to a multiple of 16 (181×217 → 192×224), 5 folds by slice, seed 0.
    "$bench/data/extract.sh" "$1/raw" mri
    local source_md="$1/raw/mri/SOURCE.md"
    echo "data: $(head -1 "$source_md" | sed 's/^# *//'); $(awk '/^- Licence/{on=1} on&&/^$/{exit} on' "$source_md" | tr -s ' \n' ' ' | sed 's/^- //')"
    "$tessera" prepare "$1/raw/mri/images" --masks "$1/raw/mri/masks" --out "$1/mri" \
        --pad multiple:16 --tile-size 0 --folds 5 --seed 0 --overwrite -q
}
