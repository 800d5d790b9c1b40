"""Demos: run a reference implementation and read what it measured.

Pick a demo (?demo=<id> preselects it; the taxonomy pages link here), set its
parameters within their bounds, run it. The run happens in a background
thread owned by this browser session (`diffatlas.demos.BackgroundRun`), so
the page shows live progress and a cancel button and other sessions are never
blocked. Results are recorded in the results store; past runs can be
reopened. Next to the measurements: the figures the catalog says the papers
report, and the demo's source code. Every verdict sentence comes from the
result's paired comparisons.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import streamlit as st

import appkit
from diffatlas import demos as demo_door
from diffatlas.explore import papers_without_reported, reported_figures
from diffatlas.chartlabels import label_positions
from diffatlas.htmlsafe import md, md_code
from diffatlas.runtime_estimate import Estimate, busy_note, stored_estimate, this_device

catalog = appkit.get_catalog()
st.title("Demos")
st.caption("Each demo measures, on this machine and in one run, what a technique buys in speed and costs in quality "
           "against its full-cost baseline and an equal-cost baseline. Every method runs on the same noise seeds; "
           "each difference is paired over those seeds with a 95% interval, and a difference the run cannot resolve "
           "is reported as inconclusive, never as a win.")


@st.cache_resource(show_spinner="Loading the reference implementations...")
def load_registry():
    return demo_door.registry()  # imports torch; only this page does


try:
    demos = load_registry()
except demo_door.DemosNotInstalled as exc:  # the base install: catalog and app, no torch
    st.info(f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
    st.stop()
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
    node_links.append(f"{md(node.name if node else node_id)} ({md_code(ref)})")
st.markdown("**Taxonomy nodes:** " + "; ".join(node_links))
paper_bits = []
for pid in demo.papers:
    paper = catalog.papers.get(pid)
    paper_bits.append(f"{md(paper.title)} ({paper.year})" if paper else f"{md_code(pid)} (not in this catalog)")
st.markdown("**Papers implemented:** " + "; ".join(paper_bits))



@st.cache_data(ttl=60, show_spinner=False)
def quick_run_estimate(demo_key: str, requested_device: str) -> Estimate:
    """Measured (median of recent quick runs on this device) or declared; cached a minute, new runs show after."""
    return stored_estimate(demos[demo_key], this_device(requested_device))


# -- parameters and options ---------------------------------------------------------------
left, right = st.columns([1, 2])
with left:
    mode = st.radio("Configuration", ["quick", "full"], horizontal=True, key=f"mode_{demo_id}",
                    help=f"quick: a small run on the CPU; full: declared about {demo.full_seconds / 60:.0f} min "
                         "on a 2-core CPU (meant for a GPU)")
    device = st.selectbox("Device", ["auto", "cpu", "cuda"], key="demo_device",
                          help="auto picks CUDA when present, else the CPU")
    estimate = quick_run_estimate(demo_id, device)
    st.caption(f"Quick run: {md(estimate.text())}")
    if busy_line := busy_note():
        st.caption(md(busy_line))
    dtype = st.selectbox("Precision", ["fp32", "bf16", "fp16"], key="demo_dtype",
                         help="every network call under autocast at this precision")
    compile_ = st.checkbox("torch.compile", key="demo_compile", help="compile every model first (not timed)")
    model_dir = None
    if demo.accepts_model:
        model_dir = st.text_input(
            "Your own model folder (optional)", key=f"model_dir_{demo_id}", placeholder="/path/to/saved/model",
            help="a folder saved with diffusers' save_pretrained: a UNet2DModel, UNet2DConditionModel or "
                 "DiTTransformer2DModel with its scheduler config (or a pipeline folder). Quality is then PSNR/SSIM "
                 "against the full-cost baseline's output from the same noise; nothing is downloaded.").strip() or None
values: dict = {}
with right:
    with st.expander("Parameters", expanded=False):
        cols = st.columns(2)
        for i, p in enumerate(demo.params):
            default = p.quick if mode == "quick" else p.full
            key, col, helptext = f"param_{demo_id}_{mode}_{p.name}", cols[i % 2], f"{p.help}; allowed: {p.bounds()}"
            if p.type is bool:
                values[p.name] = col.checkbox(p.name, value=bool(default), key=key, help=helptext)
            elif p.choices and p.many:
                values[p.name] = col.multiselect(p.name, list(p.choices), default=list(default), key=key, help=helptext)
            elif p.choices:
                values[p.name] = col.selectbox(p.name, list(p.choices), index=list(p.choices).index(default), key=key,
                                               help=helptext)
            elif p.type is int and not p.many:
                values[p.name] = col.number_input(p.name, value=int(default), step=1, key=key, help=helptext,
                                                  min_value=int(p.lo) if p.lo is not None else None,
                                                  max_value=int(p.hi) if p.hi is not None else None)
            elif p.type is float and not p.many:
                values[p.name] = col.number_input(p.name, value=float(default), min_value=p.lo, max_value=p.hi,
                                                  key=key, help=helptext)
            else:
                shown = ",".join(map(str, default)) if isinstance(default, list) else str(default)
                values[p.name] = col.text_input(p.name, value=shown, key=key, help=helptext)

# -- the background run ----------------------------------------------------------------------
job: demo_door.BackgroundRun | None = st.session_state.get("demo_job")
busy = job is not None and job.running
if st.button("Run", type="primary", icon=":material/play_arrow:", disabled=busy, key="demo_run") and not busy:
    try:
        params = demo_door.check(demo_id, mode, values, device, dtype, model=model_dir)
    except demo_door.ParamError as exc:
        st.error(str(exc))
    else:
        job = demo_door.BackgroundRun(demo_id, mode, params, device=device, dtype=dtype, compile=compile_,
                                      model=model_dir)
        st.session_state["demo_job"] = job
        st.session_state["demo_shown"] = None
        busy = True


@st.fragment(run_every=1.0)
def progress_panel() -> None:
    current: demo_door.BackgroundRun | None = st.session_state.get("demo_job")
    if current is None:
        return
    if current.running:
        st.progress(min(1.0, current.fraction), text=f"{current.demo_id}: {current.message} "
                                                      f"({time.time() - current.started:.0f}s)")
        if st.button("Cancel", icon=":material/stop:", key="demo_cancel"):
            current.cancel()
            st.info("Cancelling before the next network evaluation...")
        return
    if st.session_state.get("demo_job_seen") is not current:
        st.session_state["demo_job_seen"] = current
        st.rerun(scope="app")


if busy:
    progress_panel()

if job is not None and not job.running:
    if job.cancelled:
        st.warning(f"Run of {job.demo_id} cancelled after {time.time() - job.started:.0f}s.")
    elif job.error is not None:
        st.error(f"The run failed: {job.error}")
    elif job.result is not None and st.session_state.get("demo_shown") is None:
        st.session_state["demo_shown"] = job.result

# -- showing a result ------------------------------------------------------------------------
VERDICT_ICON = {"better": "\u2705 better", "worse": "\u274c worse", "no detectable difference": "\u2248 no detectable difference",
                "inconclusive": "\u2754 inconclusive"}


def reported_block(key: str) -> None:
    """The catalog's reported figures for this demo's papers, and which of its papers report none and why."""
    reported = reported_figures(catalog, demo.papers)
    if reported:
        st.caption("As each paper states it, on its own datasets, models and hardware: compare the direction and "
                   "the size of the effect with what this demo measures here, not the numbers.")
        st.dataframe([{k: str(v if v is not None else "") for k, v in r.items()} for r in reported], hide_index=True,
                     key=f"reported_table_{key}")
    missing = papers_without_reported(catalog, demo.papers)
    if missing:
        st.markdown("No reported figure in the catalog for: " + "; ".join(f"**{md(p)}** ({md(why)})" for p, why in missing))


CONFIGURED = {"ms_per_sample", "time_spread", "flops_per_sample", "latency_ms", "fd_se", "kid_se", "peak_mem_mb",
              "psnr_se", "ssim_se"}


def spans_decades(values) -> bool:
    """A log axis only when the values span more than a factor of ten; a narrow range reads better linear."""
    positive = [v for v in values if v and v > 0]
    return bool(positive) and max(positive) / min(positive) > 10


def show_anchors(c, a: dict) -> None:
    """The digits classifier's FD/KID floor and ceiling at the run's sample size."""
    c[0].metric("FD floor (real vs real)", f"{a['fd_floor']:.1f} \u00b1 {a['fd_floor_sd']:.1f}",
                help=f"FD between {a['samples']} real training digits and the held-out digits, mean \u00b1 sd over "
                     f"{a['draws']} draws: what a perfect generator scores at this sample size")
    c[1].metric("KID\u00d710\u00b3 floor", f"{a['kid_floor']:.1f} \u00b1 {a['kid_floor_sd']:.1f}",
                help="KID is unbiased, so its floor is near zero and can be negative")
    c[2].metric("FD ceiling (noise)", f"{a['fd_ceiling']:.0f}", help="FD of clipped Gaussian noise images")


def show_result(result: demo_door.DemoResult) -> None:
    import pandas as pd
    import plotly.express as px

    from diffatlas.report import columns_of, header, row_dicts

    st.subheader(f"Result: {md(result.title)}")
    st.caption(f"run {result.run_id if result.run_id is not None else '(not recorded)'} \u00b7 {result.mode} configuration "
               f"\u00b7 {md(result.device)} \u00b7 {result.threads} torch threads \u00b7 {result.dtype}"
               f"{' · compiled' if result.compiled else ''} \u00b7 torch {result.versions.get('torch')}, diffusers "
               f"{result.versions.get('diffusers')} \u00b7 git {md(result.git or '?')} \u00b7 {result.duration_s:.1f}s "
               f"\u00b7 {result.created}")
    a = result.anchors
    fidelity = bool(a.get("fidelity"))
    c = st.columns(4)
    if fidelity:  # a user's model: agreement with the full-cost output, no classifier anchors
        c[0].metric("Quality measured as", "PSNR / SSIM", help=f"against {a.get('reference')}'s output from the same "
                                                                "noise; higher is better; no FD or KID without a classifier")
        c[1].metric("Sample shape", "x".join(map(str, a.get("sample_shape", []))), help="the model's own sample space")
        c[2].metric("Samples per seed", f"{a.get('samples')}")
    else:
        show_anchors(c, a)
    c[3].metric("Model parameters", f"{result.model['parameters']:,}", help=f"weights: {result.model['source']}")
    flagged = result.checks.get("timing_unreliable_rows") or []

    if flagged:
        st.warning("Timing unreliable (machine busy: a row's repeats spread by more than 50%): " + md(", ".join(flagged)))
    st.markdown(f"**Full-cost baseline:** {md(result.baseline)} \u00b7 **equal-cost baseline:** {md(result.equal_cost)}")
    rows = pd.DataFrame(row_dicts(result))
    st.dataframe(rows[columns_of(result)], hide_index=True, key=f"result_table_{result.run_id}_{result.created}",
                 column_config={
                     "ms_per_sample": st.column_config.NumberColumn("ms / sample", format="%.3f",
                                                                    help="median over the repeats of wall time per sample"),
                     "time_spread": st.column_config.NumberColumn("spread", format="percent",
                                                                  help="(max - min) / median of the repeats"),
                     "speedup": st.column_config.NumberColumn("speed-up", format="%.1fx"),
                     "flops_per_sample": st.column_config.NumberColumn("FLOP / sample", format="%.3e"),
                     "latency_ms": st.column_config.NumberColumn("batch-1 ms", format="%.1f"),
                     "fd": st.column_config.NumberColumn("FD", format="%.1f"),
                     "fd_se": st.column_config.NumberColumn("FD se", format="%.1f"),
                     "kid": st.column_config.NumberColumn("KID\u00d710\u00b3", format="%.2f"),
                     "kid_se": st.column_config.NumberColumn("KID se", format="%.2f"),
                     "psnr": st.column_config.NumberColumn("PSNR dB", format="%.2f",
                                                           help="against the full-cost output from the same noise"),
                     "psnr_se": st.column_config.NumberColumn("PSNR se", format="%.2f"),
                     "ssim": st.column_config.NumberColumn("SSIM", format="%.4f"),
                     "ssim_se": st.column_config.NumberColumn("SSIM se", format="%.4f"),
                     "confidence": st.column_config.NumberColumn(format="%.3f"),
                     "peak_mem_mb": st.column_config.NumberColumn("peak MB", format="%.0f"),
                     **{c: header(c) for c in columns_of(result) if "_" in c and c not in CONFIGURED}})
    st.markdown("**What the papers report**, next to what was measured here")
    reported_block(f"{result.run_id}_{result.created}")
    chart = rows.copy()
    x = st.segmented_control("Chart x axis", ["ms_per_sample", "nfe", "flops_per_sample"], default="ms_per_sample",
                             key=f"chart_x_{result.run_id}_{result.created}") or "ms_per_sample"
    y = "psnr" if fidelity else "fd"  # a user's model: the full-cost row is the reference and has no PSNR
    chart = chart[(chart[x] > 0) & chart[y].notna()]
    log_x, log_y = spans_decades(chart[x]), (not fidelity) and spans_decades(chart[y])
    fig = px.scatter(chart, x=x, y=y, error_y=f"{y}_se", color="role", symbol="role", hover_name="method",
                     text="method", log_x=log_x, log_y=log_y,
                     labels={"fd": "FD (lower is better)", "psnr": "PSNR dB vs the full-cost output (higher is better)",
                             "ms_per_sample": "ms per sample (median)", "nfe": "NFE",
                             "flops_per_sample": "FLOPs per sample"})
    if not fidelity:  # On a log axis, shapes take data values but annotations take log10 values.
        fig.add_hline(y=a["fd_floor"], line_dash="dot")
        fig.add_annotation(x=1, xref="paper", y=math.log10(a["fd_floor"]) if log_y else a["fd_floor"], yref="y",
                           text="real-vs-real floor", showarrow=False, xanchor="right", yanchor="bottom")
    fig.update_traces(marker_size=11, textfont_size=12, cliponaxis=False)
    where = dict(zip(chart["method"], label_positions(list(chart[x]), list(chart[y]), list(chart["method"]),
                                                      list(chart[f"{y}_se"]) if f"{y}_se" in chart else None,
                                                      log_x=log_x, log_y=log_y,
                                                      extent_y=[] if fidelity else [a["fd_floor"]])))
    fig.for_each_trace(lambda trace: trace.update(textposition=[where.get(t, "top center") for t in ([] if trace.text is None else list(trace.text))]))
    # Powers of ten only on a log axis (no 2 and 5 minor labels), few ticks on a linear one, no trailing zeros.
    fig.update_xaxes(tickformat="~s" if x == "flops_per_sample" else "~g", **({"dtick": 1} if log_x else {"nticks": 6}))
    fig.update_yaxes(tickformat="~g", **({"dtick": 1} if log_y else {"nticks": 6}))
    st.plotly_chart(fig, key=f"chart_{result.run_id}_{result.created}_{x}")
    st.markdown("**Findings** (paired over the seeds; 95% t-interval of the per-seed differences)")
    for sentence in result.findings():
        st.markdown(f"- {md(sentence)}")
    for note in result.notes:
        st.markdown(f"- {md(note)}")
    with st.expander("Every comparison"):
        st.dataframe(pd.DataFrame([{"technique": c.technique, "reference": c.reference, "role": c.reference_role,
                                    "metric": c.metric, "difference": c.difference, "95% CI low": c.ci_low,
                                    "95% CI high": c.ci_high, "verdict": VERDICT_ICON.get(c.verdict, c.verdict),
                                    "seeds": c.seeds} for c in result.comparisons]), hide_index=True)
    for name, table in result.tables.items():
        st.markdown(f"**{md(name)}**")
        st.dataframe(pd.DataFrame(table).rename(columns=header), hide_index=True)
    grids = [(r.method, r.grid) for r in result.rows if r.grid and Path(r.grid).is_file()]
    if grids:
        st.markdown("**Sample grids** (first seed)")
        gcols = st.columns(4)
        for i, (label, path) in enumerate(grids):
            gcols[i % 4].image(path, caption=label)


shown = st.session_state.get("demo_shown")
if shown is not None and shown.demo == demo_id:
    show_result(shown)

# -- reported figures, past runs, source --------------------------------------------------------
if shown is None or shown.demo != demo_id:  # with a result, the figures sit under its table
    st.subheader("What the papers report")
    reported_block("standalone")

st.subheader("Past runs")
try:
    from diffatlas.results import ResultsStore, whose

    store = ResultsStore()
    past = store.runs(demo_id, limit=50)
    st.caption(f"From {whose(store.path)}: `{store.path}`")
except Exception as exc:  # a locked or unreadable store must not break the page
    past = []
    st.warning(f"The results store could not be read: {exc}")
if past:
    labels = {r["id"]: f"run {r['id']} \u00b7 {r['mode']} \u00b7 {r['created']} \u00b7 {r['duration_s'] or 0:.0f}s" for r in past}
    st.dataframe([{k: r[k] for k in ("id", "mode", "created", "duration_s", "device", "git")} for r in past],
                 hide_index=True, key="past_runs")
    pick = st.selectbox("Open a past run", [None] + list(labels), format_func=lambda i: "..." if i is None else labels[i],
                        key=f"past_pick_{demo_id}")
    if pick is not None and st.button("Show this run", key="past_show"):
        try:
            st.session_state["demo_shown"] = demo_door.load_result(store.get(pick))
            st.rerun()
        except (ValueError, RuntimeError) as exc:  # an old harness's run, or a store that broke meanwhile
            st.info(f"Run {pick}: {exc}")
else:
    st.markdown("No runs of this demo recorded yet.")

with st.expander("Source code of this demo"):
    st.code(demo.source_path().read_text(encoding="utf-8"), language="python")
