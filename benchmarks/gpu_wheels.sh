#!/usr/bin/env bash
# Prepare, on a machine with network, the wheels benchmarks/gpu_check.sh needs on an offline GPU machine.
#
#   bash benchmarks/gpu_wheels.sh DIR [--python 3.12] [--platform manylinux_2_28_x86_64]
#
# Downloads benchmarks/gpu-requirements.txt (diffusers, scikit-learn and their dependencies, not torch and
# not the app) as binary wheels for the GPU machine's Python version and platform into DIR, then prints
# its size. Copy DIR to the GPU machine and run: bash benchmarks/gpu_check.sh OUT --wheels DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="" py_version="" platform="manylinux_2_28_x86_64"
while [ $# -gt 0 ]; do
  case "$1" in
    --python) py_version="$2"; shift 2 ;;
    --platform) platform="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) echo "gpu_wheels.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) dir="$1"; shift ;;
  esac
done
[ -n "$dir" ] || { echo "usage: bash benchmarks/gpu_wheels.sh DIR [--python 3.12] [--platform manylinux_2_28_x86_64]" >&2; exit 2; }
py_version="${py_version:-$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')}"
mkdir -p "$dir"
# manylinux2014 too: older wheels of small packages only carry that tag
python3 -m pip download --quiet --only-binary=:all: --implementation cp --python-version "$py_version" \
  --platform "$platform" --platform manylinux2014_x86_64 --platform any \
  -r "$here/gpu-requirements.txt" -d "$dir"
echo "wheels for Python $py_version on $platform in $dir: $(ls "$dir" | wc -l) files, $(du -sh "$dir" | cut -f1)"
