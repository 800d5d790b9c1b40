#!/usr/bin/env bash
# The GPU check: on a CUDA machine with a fresh clone, every demo's quick configuration on the GPU and the
# solvers demo's full configuration, in about ten minutes on a current data-centre GPU.
#
#   bash benchmarks/gpu_check.sh OUT [--wheels DIR] [--python PY] [--device cuda] [--smoke]
#
# OUT gets results/*.json (one DemoResult per run), report-cuda-quick.md and report-cuda.md (the full
# tables) and summary.md (one short table). It works offline on a machine that already has a CUDA build
# of torch (any recent version, any Python): it uses the Python that has torch (--python, $PYTHON, else
# python3), installs this project with --no-deps so torch is never touched, and installs only the missing
# pure-Python dependencies (benchmarks/gpu-requirements.txt) from the wheel folder given with --wheels
# (prepared on a networked machine by benchmarks/gpu_wheels.sh), or from the package index without it.
# --device cpu --smoke runs the same path on a CPU in seconds (how the script itself is tested).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="" wheels="" py="${PYTHON:-python3}" device="cuda" smoke=""
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) wheels="$2"; shift 2 ;;
    --python) py="$2"; shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --smoke) smoke="--smoke"; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) out="$1"; shift ;;
  esac
done
[ -n "$out" ] || { echo "usage: bash benchmarks/gpu_check.sh OUT [--wheels DIR] [--python PY]" >&2; exit 2; }
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# 1. the Python that has torch, and a GPU it can see
"$py" -c "import torch" 2>/dev/null || { echo "gpu_check.sh: $py cannot import torch; give the Python that has it with --python" >&2; exit 1; }
if [ "$device" != "cpu" ]; then
  "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || {
    echo "gpu_check.sh: torch $("$py" -c 'import torch; print(torch.__version__)') in $py sees no CUDA GPU" >&2; exit 1; }
fi
"$py" -c "import torch, sys, platform; print(f'[gpu_check] Python {platform.python_version()}, torch {torch.__version__}, CUDA {torch.version.cuda}, device', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"

# 2. the project without its dependencies (torch untouched), then only what is missing
pip_opts=(--quiet --disable-pip-version-check)
if [ -n "$wheels" ]; then pip_opts+=(--no-index --find-links "$wheels"); fi
"$py" -m pip install "${pip_opts[@]}" --no-deps --no-build-isolation -e "$repo" >/dev/null 2>&1 \
  || echo "[gpu_check] could not pip-install the project (no setuptools offline?); running it from $repo instead"
missing=$("$py" - "$repo/benchmarks/gpu-requirements.txt" <<'PY'
import re, sys
from importlib import metadata
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name = re.split(r"[<>=!~ ]", line)[0]
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        print(line)
PY
)
if [ -n "$missing" ]; then
  echo "[gpu_check] installing missing dependencies:" $missing
  # shellcheck disable=SC2086
  # (pip may list the app's own dependencies as unmet: the project was installed with --no-deps on purpose)
  "$py" -m pip install "${pip_opts[@]}" $missing 2>&1 | grep -v -e "^diffatlas .* requires " -e "dependency resolver does not currently" || true
fi

# 3. every demo's quick configuration, then the solvers demo's full configuration
cd "$repo"
export DIFFATLAS_CACHE="$out/cache" DIFFATLAS_RESULTS="$out/results.sqlite"
started=$(date +%s)
"$py" benchmarks/run_all.py --quick $smoke --device "$device" --out "$out" --no-record
if [ -z "$smoke" ]; then
  "$py" benchmarks/run_all.py --demos solvers --device "$device" --out "$out" --no-record
else
  "$py" benchmarks/run_all.py --demos solvers --smoke --device "$device" --out "$out" --no-record --report "$out/report-full-smoke.md"
fi
"$py" benchmarks/run_all.py --summary --out "$out"
echo "[gpu_check] done in $(( $(date +%s) - started ))s; see $out/summary.md"
