# Shared set-up for the benchmarks: a release build and the reference virtualenv.
set -euo pipefail
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$bench")
venv="$bench/.venv"
work="${BENCH_WORK:-$bench/out}"
mkdir -p "$work"

build_release() {
    (cd "$root" && swift build -c release 2>&1 | grep -E "error|Compiling|Build complete" | tail -1)
    tessera="$root/.build/release/tessera"
}

make_venv() {
    # $@: packages the reference needs, from PyPI.
    if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
    py="$venv/bin/python"
}

machine() {
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB"
}
