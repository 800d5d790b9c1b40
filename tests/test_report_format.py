"""CLI tables: counts never print as 10.00, column names are readable."""

from __future__ import annotations

from diffatlas.report import fmt, header, md_table, table


def test_counts_print_as_integers():
    assert fmt(10.0, "nfe") == "10" and fmt(10.0, "break_even_samples") == "10" and fmt(250.0, "n_images") == "250"
    assert fmt(10.0, "fd") == "10.00" and fmt(12.5, "fd") == "12.50"


def test_a_column_of_whole_numbers_prints_without_decimals():
    rows = [{"method": "a", "budget": 10.0, "fd": 12.34}, {"method": "b", "budget": 20.0, "fd": 10.0}]
    text = table(rows, ["method", "budget", "fd"])
    assert "10.00" not in text.splitlines()[2] and " 10 " in f" {text.splitlines()[2]} "
    assert "10.00" in text.splitlines()[3]  # FD stays a measurement


def test_readable_headers():
    assert header("max_abs_err") == "max abs err" and header("psnr_to_teacher_db") == "PSNR to teacher dB"
    assert header("duration_s") == "seconds" and header("method") == "method"
    first = md_table([{"nfe_ratio": 0.5, "speedup": 2.0}], ["nfe_ratio", "speedup"]).splitlines()[0]
    assert first == "| NFE ratio | speed-up |"


def test_stats_histogram_is_at_most_fifty_characters():
    from diffatlas.cli.catalog_cmds import histogram_bar

    assert histogram_bar(7, 30) == "#" * 7
    assert len(histogram_bar(125, 125)) == 50 and histogram_bar(1, 125) == "#" and histogram_bar(0, 125) == ""
    assert len(histogram_bar(106, 125)) == 42


def test_chart_labels_of_neighbouring_points_do_not_overlap():
    from diffatlas.chartlabels import CHAR_PX, _box, _overlap, _scale, label_positions

    xs, ys = [3.20, 3.34, 3.58, 2.89, 7.02], [130.4, 130.3, 130.3, 154.9, 130.3]
    texts = ["eager bf16 autocast", "ONNX Runtime fp32", "eager fp32, 6 steps", "eager fp32, 5 steps", "OpenVINO f32 hint"]
    positions = label_positions(xs, ys, texts, errors=[5.7, 5.5, 5.5, 2.2, 5.5], extent_y=[125.6])
    assert len(positions) == 5 and len(set(positions[:3])) == 3  # the three neighbours go three ways
    px, _ = _scale(xs, False, 620)
    py, _ = _scale(ys, False, 330, [125.6, 124.7, 136.1, 152.7, 157.1])
    boxes = [_box(p, x, y, CHAR_PX * len(t)) for p, x, y, t in zip(positions, px, py, texts)]
    assert all(_overlap(a, b) == 0 for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert label_positions([], [], []) == []
