"""Leaderboard: every technique measured in the results store, speed-up against quality change, the Pareto front drawn.

A thin layout over `diffatlas.leaderboard` (what an entry is, how the front is computed, why entries are ranked
only within a group of one quality metric, model, sample size and device). The filters live in the URL
(?device=...&model=...&node=...&demo=...&mode=...), so a view can be shared by copying the address.
"""

from __future__ import annotations

import math
from pathlib import Path

import streamlit as st

import appkit
from diffatlas import explore
from diffatlas import leaderboard as lb
from diffatlas.htmlsafe import esc, md, md_code
from diffatlas.results import ResultsStore, ResultsStoreError, whose

COMMITTED_RUNS = appkit.APP_DIR.parent / "benchmarks" / "results"
FILTERS = ("device", "model", "node", "demo", "mode")
ALL = "(all)"

catalog = appkit.get_catalog()
st.title("Measured leaderboard")
appkit.problems_banner(catalog)
st.caption("Every technique measured in the results store against its own full-cost baseline, from the same run: "
           "the speed-up in wall time per sample, what else the demo counts (NFE, FLOPs or weight bytes), the quality "
           "change paired over the run's noise seeds with its 95% interval, and the verdict against the equal-cost "
           "baseline. Entries are ranked only against entries of the same quality metric, model, sample size and "
           "device: an FD change at 500 samples is not one at 1000, nor a CPU speed-up a GPU one.")


# -- the store -------------------------------------------------------------------------------------
def open_store() -> ResultsStore:
    try:
        return ResultsStore()
    except ResultsStoreError as exc:
        st.error(str(exc))
        st.stop()


def empty_store(store: ResultsStore) -> None:
    """How to fill the store, and a button that imports the committed CPU runs of every demo."""
    st.info(f"No runs in the results store yet ({md(whose(store.path))}: {md_code(store.path)}). Fill it with "
            f"{md_code('diffatlas demo run <demo>')} (or the Demos page), a grid with {md_code('diffatlas sweep ...')}, "
            f"or the committed CPU runs with {md_code('diffatlas results import benchmarks/results/')}.")
    committed = sorted(COMMITTED_RUNS.glob("*.json")) if COMMITTED_RUNS.is_dir() else []
    if committed and st.button(f"Import the {len(committed)} committed CPU runs", icon=":material/download:",
                               key="leaderboard_import"):
        report = store.import_files(committed)
        st.session_state["leaderboard_imported"] = report.text() + "".join(f"; {r}" for r in report["refused"])
        st.rerun()


def store_signature(store: ResultsStore) -> tuple:
    """What changes when a run is written: the run count and the database and journal files' times and sizes."""
    files = (store.path, store.path.with_name(store.path.name + "-wal"))
    return (store.count(),) + tuple((f.stat().st_mtime_ns, f.stat().st_size) if f.exists() else None for f in files)


@st.cache_data(max_entries=4, show_spinner="Reading the results store...")
def read_board(path: str, signature: tuple) -> lb.Board:
    """The board of the store at `path`, read again only when `signature` changes (about 10 ms a run)."""
    return lb.collect(ResultsStore(Path(path)).results())


store = open_store()
if note := st.session_state.pop("leaderboard_imported", None):
    st.success(md(note))
try:
    board = read_board(str(store.path), store_signature(store))
except ResultsStoreError as exc:
    st.error(str(exc))
    st.stop()
for run_id, why in board.skipped:
    st.caption(f"Run {run_id} is left out: {md(why)}")
if not board.entries:
    empty_store(store)
    st.stop()


# -- filters, seeded from the URL once and written back on every run -----------------------------------
def filter_options(entries: list[lb.Entry]) -> dict[str, list[str]]:
    options = lb.choices(entries)
    options["node"] = [node for node, _ in explore.all_node_choices(catalog)
                       if any(lb.node_matches(e.nodes, node) for e in entries)]
    return {name: [ALL] + values for name, values in options.items()}


def read_url(options: dict[str, list[str]]) -> None:
    unknown = []
    for name in FILTERS:
        key, wanted = f"leaderboard_{name}", st.query_params.get(name)
        if key in st.session_state or wanted is None:
            continue
        if wanted in options[name]:
            st.session_state[key] = wanted
        else:
            unknown.append(f"{name}={wanted}")
    if unknown:
        st.warning("Not in the results store, so not applied: " + ", ".join(md_code(u) for u in unknown),
                   icon=":material/link_off:")


def filter_widgets(options: dict[str, list[str]]) -> lb.Filters:
    node_labels = dict(explore.all_node_choices(catalog))
    cols = st.columns([2, 2, 3, 2, 1])
    values = {}
    for col, name in zip(cols, FILTERS):
        labels = node_labels if name == "node" else {}
        values[name] = col.selectbox(name.capitalize() if name != "node" else "Taxonomy node", options[name],
                                     key=f"leaderboard_{name}", format_func=lambda v, labels=labels: labels.get(v, v))
    for name, value in values.items():
        if value != ALL:
            st.query_params[name] = value
        elif name in st.query_params:
            del st.query_params[name]
    return lb.Filters(**{name: None if value == ALL else value for name, value in values.items()})


options = filter_options(board.entries)
read_url(options)
filters = filter_widgets(options)
entries, counts = lb.apply(board.entries, filters)
st.caption(f"{len(board.entries)} entries from {board.runs} runs in {md(whose(store.path))} ({md_code(store.path)})"
           + "".join(f"; {md(name)} {md_code(value)}: {left} left" for name, value, left in counts))
if not entries:
    st.info("No entry matches these filters.")
    st.stop()


# -- the chart: one panel per group, speed-up against quality change, the front drawn ----------------------
def symlog(value: float) -> float:
    """sign(v) log10(1 + |v|): FD changes run from -10 to +4000 in one view; this keeps both ends readable."""
    return math.copysign(math.log10(1 + abs(value)), value)


def panel_labels(df) -> dict[str, str]:
    """Each group's panel title: the metric and sample size, plus the model and device when they differ in view."""
    vary = {part: df[part].nunique() > 1 for part in ("model", "device")}
    labels = {}
    for group, row in df.groupby("group").first().iterrows():
        bits = [f"{lb.METRIC_NAMES.get(row['metric'], row['metric'])}, {row['n_samples']:.0f} samples"]
        bits += [str(row[part]) for part, differs in vary.items() if differs]
        labels[group] = esc(" \u00b7 ".join(bits))
    return labels


def chart_frame(df, log_y: bool):
    y = symlog if log_y else (lambda v: v)
    df = df.copy()
    df["y"] = df["change"].map(y)
    df["up"] = [y(h) - y(c) if h == h else 0.0 for h, c in zip(df["ci_high"], df["change"])]
    df["down"] = [y(c) - y(lo) if lo == lo else 0.0 for lo, c in zip(df["ci_low"], df["change"])]
    df["panel"] = df["group"].map(panel_labels(df))
    for column in ("method", "demo", "device", "model", "verdict", "equal_cost_verdict", "cost"):
        df[column] = df[column].fillna("").map(esc)  # plotly renders a subset of HTML in hovers
    df["front"] = df["pareto"].map({True: "yes", False: "no"})
    df["cost ratio"] = [f"{c} x{r:.3g}" if r is not None and r == r else c for c, r in zip(df["cost"], df["cost_ratio"])]
    return df


def draw_chart(df) -> None:
    import plotly.express as px

    plotted = df[df["speedup"].notna() & df["change"].notna()]
    wide = plotted["ci_high"].abs().max() if plotted["ci_high"].notna().any() else plotted["change"].abs().max()
    log_y = st.toggle("Symmetric log scale for the quality change", value=bool(wide > 100), key="leaderboard_symlog",
                      help="sign(d) log10(1 + |d|): small changes near zero and changes in the thousands on one axis")
    data = chart_frame(plotted, log_y)
    order = data.sort_values(["metric", "n_samples", "group"])
    panels = list(dict.fromkeys(order["panel"]))  # by metric, then sample size
    palette = px.colors.qualitative.Safe  # one colour per demo, the same whatever the filters leave
    colours = {esc(d): palette[i % len(palette)] for i, d in enumerate(sorted({e.demo for e in board.entries}))}
    fig = px.scatter(data, x="speedup", y="y", error_y="up", error_y_minus="down", color="demo", symbol="role",
                     color_discrete_map=colours, symbol_map={"technique": "circle", "equal-cost": "diamond-open"},
                     facet_col="panel", facet_col_wrap=min(3, len(panels)), category_orders={"panel": panels},
                     log_x=True, hover_name="method",
                     hover_data={"demo": True, "run_id": True, "device": True, "speedup": ":.2f", "cost ratio": True,
                                 "change": ":.2f", "verdict": True, "equal_cost_verdict": True, "front": True,
                                 "n_samples": True, "y": False, "up": False, "down": False, "panel": False,
                                 "role": True},
                     labels={"speedup": "speed-up", "y": "quality vs full cost (panel's metric)",
                             "equal_cost_verdict": "vs equal cost", "front": "on the Pareto front",
                             "run_id": "run", "n_samples": "samples"})
    front = data[data["pareto"]].sort_values("speedup")
    if len(front):
        line = px.line(front, x="speedup", y="y", facet_col="panel", facet_col_wrap=min(3, len(panels)),
                       category_orders={"panel": panels}, log_x=True)
        for i, trace in enumerate(line.data):
            trace.update(name="Pareto front", legendgroup="front", showlegend=i == 0, hoverinfo="skip",
                         line=dict(color="#222", dash="dot", width=1.5), mode="lines+markers",
                         marker=dict(symbol="circle-open", size=15, color="#222", line=dict(width=1.5)))
            fig.add_trace(trace)
    fig.add_hline(y=0, line_color="#999", line_width=1)
    fig.add_vline(x=1, line_color="#999", line_width=1)
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    if log_y:
        ticks = [t for t in (-1000, -100, -10, -1, 0, 1, 10, 100, 1000, 10000)
                 if data["y"].min() - 0.5 <= symlog(t) <= data["y"].max() + 0.5]
        fig.update_yaxes(tickvals=[symlog(t) for t in ticks], ticktext=[f"{t:+g}" if t else "0" for t in ticks])
    if data["metric"].nunique() > 1:  # FD and PSNR panels: their y axes measure different things
        fig.update_yaxes(matches=None, showticklabels=True)
    fig.update_xaxes(tickformat="~g", showticklabels=True)
    fig.update_layout(height=560 if len(panels) <= 3 else 940, margin=dict(t=40, l=10, r=10, b=10),
                      legend=dict(title="demo, role", orientation="h", yanchor="top", y=-0.14, x=0))
    st.plotly_chart(fig, key="leaderboard_chart")
    missing = len(df) - len(plotted)
    st.caption("Speed-up: the run's own full-cost row's wall time per sample over this row's, both measured in the "
               "same run (machine load inflates both), on a log axis; right of 1 is faster. Quality change: the row's "
               "quality minus its full-cost row's (FD: lower is better; PSNR/SSIM against the full-cost output: higher "
               "is better), with the 95% paired interval as bars; below zero is better than full cost. Circled points "
               "joined by the dotted line are each panel's Pareto front. One panel per quality metric and sample size "
               "(and model and device, when they differ): points in different panels are not comparable. "
               + (f"{missing} entries without a speed-up or a quality change are in the table only." if missing else ""))


df = lb.frame(entries)
draw_chart(df)


# -- the table, one run's detail, and the papers' reported figures beside -------------------------
def table_frame(df):
    view = df.copy()
    # relative to this page, so the link also works when the app is served under a base path
    view["paper"] = [f"papers?paper={ids.split('; ')[0]}" if ids else None for ids in view["papers"]]
    view["interval"] = [f"[{lo:+.2f}, {hi:+.2f}]" if lo == lo and hi == hi else "" for lo, hi in
                        zip(view["ci_low"], view["ci_high"])]
    return view[["pareto", "demo", "method", "role", "run_id", "device", "model", "seed", "cost", "cost_ratio",
                 "speedup", "timing_unreliable", "metric", "change", "interval", "verdict", "equal_cost_verdict",
                 "n_samples", "paper", "papers", "group"]]


left, right = st.columns([3, 2])
with left:
    st.subheader("Every entry")
    event = st.dataframe(
        table_frame(df), hide_index=True, key="leaderboard_table", on_select="rerun", selection_mode="single-row",
        column_config={
            "pareto": st.column_config.CheckboxColumn("front", help="on the Pareto front of its group"),
            "run_id": st.column_config.NumberColumn("run", format="%d"),
            "cost_ratio": st.column_config.NumberColumn("cost ratio", format="%.3g",
                                                        help="full-cost count over this row's, for the cost named"),
            "speedup": st.column_config.NumberColumn("speed-up", format="%.2fx",
                                                     help="full-cost wall time per sample over this row's, same run"),
            "timing_unreliable": st.column_config.CheckboxColumn("timing unreliable"),
            "change": st.column_config.NumberColumn("change", format="%+.2f"),
            "equal_cost_verdict": st.column_config.TextColumn("vs equal cost"),
            "n_samples": st.column_config.NumberColumn("samples", format="%d"),
            "paper": st.column_config.LinkColumn("paper", display_text=r"papers\?paper=(.*)",
                                                 help="the demo's first catalog paper on the Papers page"),
        })
    st.download_button("CSV of this table", lb.to_csv(entries), file_name="diffatlas-leaderboard.csv",
                       mime="text/csv", icon=":material/download:", key="leaderboard_csv")
with right:
    st.subheader("What the papers report")
    st.caption("As each paper states it, on its own data sets, models and hardware: compare the direction and size "
               "of the effect with the measured rows, not the numbers.")
    reported = lb.reported_beside(catalog, entries)
    if reported:
        st.dataframe([{k: str(r.get(k) or "") for k in ("demo", "paper", "metric", "value", "unit", "speed-up",
                                                        "baseline", "dataset", "where")} for r in reported],
                     hide_index=True, key="leaderboard_reported")
    else:
        st.caption("The catalog records no reported figure for these demos' papers.")


def run_detail(run_ids: list[int], picked: int | None) -> None:
    """The chosen run as `diffatlas results show` prints it."""
    from diffatlas.demos import load_result
    from diffatlas.report import format_result

    if picked is not None and picked != st.session_state.get("leaderboard_picked"):
        st.session_state["leaderboard_run"] = picked  # a new row click picks its run
    st.session_state["leaderboard_picked"] = picked
    run_id = st.selectbox("Run", run_ids, key="leaderboard_run",
                          format_func=lambda r: f"run {r}: " + next(f"{e.demo} ({e.mode}, {e.device}, {e.created})"
                                                                    for e in entries if e.run_id == r))
    stored = store.get(run_id)
    if stored is None:
        st.warning(f"Run {run_id} is no longer in the store.")
        return
    result = load_result(stored)
    with st.expander(f"Run {run_id}: {md(result.title)}", expanded=picked is not None):
        st.code(format_result(result, explore.reported_figures(catalog, result.papers),
                              explore.papers_without_reported(catalog, result.papers)), language=None)
    appkit.page_link_demo(result.demo, f"Run the {result.demo} demo yourself")


st.subheader("One run in full")
rows = list(event.selection.rows) if event is not None and hasattr(event, "selection") else []
run_ids = sorted({e.run_id for e in entries if e.run_id is not None})
run_detail(run_ids, int(df["run_id"].iloc[rows[0]]) if rows and rows[0] < len(df) else None)
