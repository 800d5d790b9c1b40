"""Time the app the way the issue asks: cold and warm, overview and map.

    python app/bench.py [--catalog DIR] [--repeats 5]

Each repeat starts a fresh Python process (so "cold" includes imports and the
first catalog load) and runs the app headless with Streamlit's AppTest:

- overview cold: first run of the entry page (imports, catalog load, charts);
- overview warm: a rerun (the catalog comes from Streamlit's cache);
- map cold: first run of the map page (scikit-learn import, TF-IDF network,
  layout, Louvain, HTML);
- map warm: a rerun with the same settings (cached network and HTML);
- map new resolution: a rerun after moving the resolution slider (re-clusters
  and redraws, the network and layout stay cached);
- papers cold: in another fresh process, the first run of the Papers page
  after the overview (so the map's caches cannot help it; this includes the
  'Similar papers' index).

For a catalog at scale: `python benchmarks/generate_catalog.py /tmp/cat10k`,
then `python app/bench.py --catalog /tmp/cat10k --repeats 1`.

Prints every repeat and the medians. Wall-clock times on a shared machine
spread by 10-20 %; compare medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

APP_MAIN = Path(__file__).resolve().parent / "main.py"

ONE_RUN = """
import json, time
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(%r, default_timeout=300)
def timed(step):
    start = time.perf_counter(); step(); return time.perf_counter() - start
out = {"overview cold": timed(at.run)}
assert not at.exception, [e.value for e in at.exception]
out["overview warm"] = sorted(timed(at.run) for _ in range(3))[1]
at.switch_page("views/map.py")
out["map cold"] = timed(at.run)
assert not at.exception, [e.value for e in at.exception]
out["map warm"] = sorted(timed(at.run) for _ in range(3))[1]
at.slider(key="map_resolution").set_value(1.5)
out["map new resolution"] = timed(at.run)
print(json.dumps(out))
"""

PAPERS_RUN = """
import json, time
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(%r, default_timeout=300)
at.run()
at.switch_page("views/papers.py")
start = time.perf_counter(); at.run(); seconds = time.perf_counter() - start
assert not at.exception, [e.value for e in at.exception]
print(json.dumps({"papers cold": seconds}))
"""


def one_run(script: str, env: dict) -> dict:
    """Run one timing script in a fresh Python process; its last line is a JSON dict."""
    result = subprocess.run([sys.executable, "-c", script % str(APP_MAIN)], capture_output=True, text=True, env=env)
    if result.returncode:
        sys.exit(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, help="catalog folder (default: the repository's catalog/)")
    parser.add_argument("--taxonomy", type=Path, help="taxonomy folder (default: the repository's taxonomy/)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = dict(os.environ)
    if args.catalog:
        env["DIFFATLAS_CATALOG"] = str(args.catalog.resolve())
    if args.taxonomy:
        env["DIFFATLAS_TAXONOMY"] = str(args.taxonomy.resolve())
    runs = []
    for i in range(args.repeats):
        runs.append({**one_run(ONE_RUN, env), **one_run(PAPERS_RUN, env)})
        print(f"run {i + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in runs[-1].items()), flush=True)
    print("median: " + ", ".join(f"{k} {statistics.median(r[k] for r in runs):.2f} s" for k in runs[0]))


if __name__ == "__main__":
    main()
