"""Demos: run a reference implementation and read what it measured.

Pick a demo (?demo=<id> preselects it; the taxonomy pages link here), set its
parameters within their bounds, run it. The run happens in a background
thread owned by this browser session, so the page shows live progress and a
cancel button, and other sessions are never blocked. Results are recorded in
the results store; past runs can be reopened. Next to the measurements: the
figures the catalog says the papers report, and the demo's source code.
"""

from __future__ import annotations

import math

import threading
import time
from pathlib import Path

import streamlit as st

import appkit
from diffatlas.htmlsafe import md, md_code

catalog = appkit.get_catalog()
st.title("Demos")
st.caption("Each demo measures, on this machine and in one run, what a technique buys in speed and costs in quality "
           "against its full-cost baseline and an equal-cost baseline. Differences smaller than the seed-to-seed "
           "spread are reported as no difference.")


@st.cache_resource(show_spinner="Loading the reference implementations...")
def load_registry():
    from reference_impls import registry  # imports torch; only this page does

    return registry, registry.registry()


registry, demos = load_registry()
ids = list(demos)

# -- choose a demo ----------------------------------------------------------------
wanted = st.query_params.get("demo")
if "demo_choice" not in st.session_state or (wanted in demos and st.session_state.get("demo_from_url") != wanted):
    st.session_state["demo_choice"] = wanted if wanted in demos else ids[0]
    st.session_state["demo_from_url"] = wanted
demo_id = st.selectbox("Demo", ids, format_func=lambda d: f"{demos[d].title}", key="demo_choice")
st.query_params["demo"] = demo_id
demo = demos[demo_id]
st.markdown(md(demo.summary))

node_links = []
for ref in demo.nodes:
    tid, _, node_id = ref.partition(":")
    node = catalog.node(tid, node_id)
    name = node.name if node else node_id
    node_links.append(f"{md(name)} ({md_code(ref)})")
st.markdown("**Taxonomy nodes:** " + "; ".join(node_links))
paper_bits = []
for pid in demo.papers:
    paper = catalog.papers.get(pid)
    paper_bits.append(f"{md(paper.title)} ({paper.year})" if paper else f"{md_code(pid)} (not in this catalog)")
st.markdown("**Papers implemented:** " + "; ".join(paper_bits))

# -- parameters -----------------------------------------------------------------------
left, right = st.columns([1, 2])
with left:
    mode = st.radio("Configuration", ["quick", "full"], horizontal=True, key=f"mode_{demo_id}",
                    help=f"quick: about {demo.quick_seconds:.0f}s on a 2-core CPU; full: about "
                         f"{demo.full_seconds / 60:.0f} min there (meant for a GPU)")
    device = st.selectbox("Device", ["auto", "cpu", "cuda"], key="demo_device",
                          help="auto picks CUDA when present, else the CPU")
values: dict = {}
with right:
    with st.expander("Parameters", expanded=False):
        cols = st.columns(2)
        for i, p in enumerate(demo.params):
            default = p.quick if mode == "quick" else p.full
            key = f"param_{demo_id}_{mode}_{p.name}"
            col = cols[i % 2]
            label = f"{p.name}"
            helptext = f"{p.help}; allowed: {p.bounds()}"
            if p.kind == "bool":
                values[p.name] = col.checkbox(label, value=bool(default), key=key, help=helptext)
            elif p.kind == "int":
                values[p.name] = col.number_input(label, value=int(default), min_value=int(p.min) if p.min is not None else None,
                                                  max_value=int(p.max) if p.max is not None else None, step=1, key=key, help=helptext)
            elif p.kind == "float":
                values[p.name] = col.number_input(label, value=float(default), min_value=p.min, max_value=p.max, key=key,
                                                  help=helptext)
            elif p.kind == "str" and p.choices:
                values[p.name] = col.selectbox(label, list(p.choices), index=list(p.choices).index(default), key=key,
                                               help=helptext)
            elif p.kind == "strs" and p.choices:
                values[p.name] = col.multiselect(label, list(p.choices), default=list(default), key=key, help=helptext)
            else:
                shown = ",".join(map(str, default)) if isinstance(default, list) else str(default)
                values[p.name] = col.text_input(label, value=shown, key=key, help=helptext)

# -- the background job ----------------------------------------------------------------


class Job:
    """One demo run in a thread; progress and cancellation shared with the page."""

    def __init__(self, demo_id: str, mode: str, params: dict, device: str):
        self.demo_id, self.mode, self.params, self.device = demo_id, mode, params, device
        self.fraction, self.message = 0.0, "starting"
        self.result = None
        self.error = None
        self.cancel = threading.Event()
        self.started = time.time()
        self.thread = threading.Thread(target=self._run, name=f"demo-{demo_id}", daemon=True)
        self.thread.start()

    def _progress(self, fraction: float, message: str) -> None:
        self.fraction, self.message = fraction, message

    def _run(self) -> None:
        try:
            self.result = registry.run_demo(self.demo_id, self.mode, self.params, device=self.device,
                                            progress=self._progress, should_stop=self.cancel.is_set)
        except Exception as exc:  # shown on the page; Cancelled included
            self.error = exc

    @property
    def running(self) -> bool:
        return self.thread.is_alive()


job: Job | None = st.session_state.get("demo_job")
busy = job is not None and job.running
run_clicked = st.button("Run", type="primary", icon=":material/play_arrow:", disabled=busy, key="demo_run")
if run_clicked and not busy:
    try:
        params = demo.resolve(mode, values)
    except registry.ParamError as exc:
        st.error(str(exc))
    else:
        job = Job(demo_id, mode, params, device)
        st.session_state["demo_job"] = job
        st.session_state["demo_shown"] = None
        busy = True


@st.fragment(run_every=1.0)
def progress_panel() -> None:
    current: Job | None = st.session_state.get("demo_job")
    if current is None:
        return
    if current.running:
        st.progress(min(1.0, current.fraction), text=f"{current.demo_id}: {current.message} "
                                                      f"({time.time() - current.started:.0f}s)")
        if st.button("Cancel", icon=":material/stop:", key="demo_cancel"):
            current.cancel.set()
            st.info("Cancelling after the current network evaluation...")
        return
    if not st.session_state.get("demo_job_seen") is current:
        st.session_state["demo_job_seen"] = current
        st.rerun(scope="app")


if busy:
    progress_panel()

if job is not None and not job.running:
    if job.error is not None:
        if type(job.error).__name__ == "Cancelled":
            st.warning(f"Run of {job.demo_id} cancelled after {time.time() - job.started:.0f}s.")
        else:
            st.error(f"The run failed: {job.error}")
    elif job.result is not None and st.session_state.get("demo_shown") is None:
        st.session_state["demo_shown"] = job.result

# -- showing a result -----------------------------------------------------------------


def show_result(result: dict) -> None:
    import pandas as pd
    import plotly.express as px

    st.subheader(f"Result: {result['title']}")
    st.caption(f"run {result.get('run_id', '?')} \u00b7 {result['mode']} configuration \u00b7 {md(result['device'])} \u00b7 "
               f"torch {result['versions']['torch']}, diffusers {result['versions']['diffusers']} \u00b7 "
               f"git {result.get('git') or '?'} \u00b7 {result['duration_s']:.1f}s \u00b7 {result['created']}")
    a = result["anchors"]
    c = st.columns(4)
    c[0].metric("FD floor (real vs real)", f"{a['fd_floor']:.1f}", help="FD-digits between real training digits and the held-out digits at this sample size: what a perfect generator scores")
    c[1].metric("FD ceiling (noise)", f"{a['fd_ceiling']:.0f}", help="FD-digits of clipped Gaussian noise images")
    c[2].metric("Classifier accuracy", f"{a['classifier_accuracy']:.3f}", help="held-out accuracy of the digits classifier whose features FD-digits uses")
    c[3].metric("Model parameters", f"{result['model']['parameters']:,}", help=f"weights: {result['model']['source']}")
    st.markdown(f"**Full-cost baseline:** {md(result['baseline'])} \u00b7 **equal-cost baseline:** {md(result['equal_cost'])}")
    rows = pd.DataFrame(result["rows"])
    cols = [c for c in ["method", "role", "nfe", "spacing", "schedule", "wall_s", "speedup", "overhead_share", "fd", "fd_std",
                        "fd_ratio", "confidence", "coverage", "peak_mem_mb"] if c in rows]
    st.dataframe(rows[cols], hide_index=True, key=f"result_table_{result.get('run_id')}",
                 column_config={"wall_s": st.column_config.NumberColumn("wall s (median)", format="%.2f"),
                                "speedup": st.column_config.NumberColumn("speed-up", format="%.1fx"),
                                "overhead_share": st.column_config.NumberColumn("outside network", format="percent"),
                                "fd": st.column_config.NumberColumn("FD-digits", format="%.1f"),
                                "fd_std": st.column_config.NumberColumn("FD seed std", format="%.1f"),
                                "fd_ratio": st.column_config.NumberColumn("FD / baseline", format="%.2f"),
                                "confidence": st.column_config.NumberColumn(format="%.3f"),
                                "peak_mem_mb": st.column_config.NumberColumn("peak MB", format="%.0f")})
    chart = rows.copy()
    chart["marker"] = chart["role"].map(lambda r: "full-cost baseline" if r == "baseline" else r)
    x = st.segmented_control("Chart x axis", ["wall_s", "nfe"], default="wall_s", key=f"chart_x_{result.get('run_id')}") or "wall_s"
    fig = px.scatter(chart, x=x, y="fd", error_y="fd_std", color="marker", symbol="marker", hover_name="method",
                     log_x=True, log_y=True, labels={"fd": "FD-digits (lower is better)", "wall_s": "wall time, s (median)", "nfe": "NFE"})
    # On a log axis, shapes take data values but annotations take log10 values (a plain
    # annotation_text on add_hline would stretch the axis to 10^floor).
    fig.add_hline(y=a["fd_floor"], line_dash="dot")
    fig.add_annotation(x=1, xref="paper", y=math.log10(a["fd_floor"]), yref="y", text="real-vs-real floor",
                       showarrow=False, xanchor="right", yanchor="bottom")
    fig.update_traces(marker_size=11)
    st.plotly_chart(fig, key=f"chart_{result.get('run_id')}_{x}")
    st.markdown("**Findings**")
    for note in result["notes"]:
        st.markdown(f"- {md(note)}")
    for name, table in (result.get("tables") or {}).items():
        st.markdown(f"**{md(name)}**")
        st.dataframe(pd.DataFrame(table), hide_index=True)
    grids = [(r["method"], r["grid"]) for r in result["rows"] if r.get("grid") and Path(r["grid"]).is_file()]
    if grids:
        st.markdown("**Sample grids** (first seed)")
        gcols = st.columns(4)
        for i, (label, path) in enumerate(grids):
            gcols[i % 4].image(path, caption=label)


shown = st.session_state.get("demo_shown")
if shown is not None and shown.get("demo") == demo_id:
    show_result(shown)

# -- reported figures, past runs, source ----------------------------------------------
st.subheader("What the catalog says the papers report")
reported = []
for pid in demo.papers:
    paper = catalog.papers.get(pid)
    for r in (paper.reported if paper else []):
        reported.append({"paper": pid, "metric": r.metric, "value": str(r.value), "unit": r.unit or "",
                         "dataset": r.dataset or "", "steps": str(r.steps or ""), "hardware": r.hardware or "",
                         "source": r.source})
if reported:
    st.caption("Figures from other datasets and hardware, for orientation: the shape should match, not the numbers.")
    st.dataframe(reported, hide_index=True, key="reported_table")
else:
    st.markdown("The catalog records no reported figures for these papers yet.")

st.subheader("Past runs")
try:
    from diffatlas.results import ResultsStore

    store = ResultsStore()
    past = store.runs(demo_id, limit=50)
except Exception as exc:  # a locked or unreadable store must not break the page
    past = []
    st.warning(f"The results store could not be read: {exc}")
if past:
    labels = {r["id"]: f"run {r['id']} \u00b7 {r['mode']} \u00b7 {r['created']} \u00b7 {r['duration_s'] or 0:.0f}s" for r in past}
    st.dataframe([{k: r[k] for k in ("id", "mode", "created", "duration_s", "device")} for r in past], hide_index=True,
                 key="past_runs")
    pick = st.selectbox("Open a past run", [None] + list(labels), format_func=lambda i: "..." if i is None else labels[i],
                        key=f"past_pick_{demo_id}")
    if pick is not None and st.button("Show this run", key="past_show"):
        st.session_state["demo_shown"] = store.get(pick)
        st.rerun()
else:
    st.markdown("No runs of this demo recorded yet.")

with st.expander("Source code of this demo"):
    st.code(demo.source_path().read_text(encoding="utf-8"), language="python")
