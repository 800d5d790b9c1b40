"""The map of a generated catalog in a real Chromium: clusters carry drawn labels, and a legend."""

from __future__ import annotations

import pytest

from benchmarks.generate_catalog import generate
from diffatlas import explore, maps
from diffatlas.catalog import load_catalog
from tests.conftest import ARTIFACTS, REPO

pytestmark = pytest.mark.browser

# Pixels of one exact colour on the map's canvas: a cluster label's text colour, which no node uses.
INK_OF = """(rgb) => {
  const canvas = document.querySelector('#mynetwork canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < data.length; i += 4)
    if (data[i] === rgb[0] && data[i + 1] === rgb[1] && data[i + 2] === rgb[2]) n++;
  return n;
}"""


@pytest.mark.parametrize("n", [400, 10_000])  # 10,000: the size the issue measures the map at (about 30 s here)
def test_generated_map_draws_labelled_clusters_and_a_legend(browser, tmp_path, n):
    catalog = load_catalog(generate(tmp_path / "catalog", n=n, seed=2), REPO / "taxonomy")
    net = maps.build_paper_network(explore.research_papers(catalog))
    clusters = maps.louvain_clusters(net.graph, 1.0)
    names = maps.cluster_names(net, clusters)
    path = ARTIFACTS / "browser" / f"generated-map-{n}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(maps.render_html(net.graph, clusters, maps.layout(net.graph), names=names), encoding="utf-8")

    tab = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    errors = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto(path.as_uri())
    tab.wait_for_selector("body[data-rendered='1']", timeout=60_000)
    labels = tab.evaluate("() => clusterLabels")
    assert len(labels) >= 3
    for label in labels[:3]:  # each label's text is on the canvas, in its own colour
        rgb = [int(label["color"][i:i + 2], 16) for i in (1, 3, 5)]
        assert tab.evaluate(INK_OF, rgb) > 20, label
    legend = tab.locator("#legend").inner_text()
    assert all(label["label"].split(":")[0] + ":" in legend for label in labels)
    assert not errors, errors
    tab.screenshot(path=str(ARTIFACTS / "browser" / f"generated-map-{n}.png"))
