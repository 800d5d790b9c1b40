"""The demo registry: links to the taxonomy and the catalog both ways, and parameter errors."""

from __future__ import annotations

import pytest

from diffatlas.catalog import load_taxonomies
from diffatlas.paths import default_catalog_dir, default_taxonomy_dir, papers_dir
from reference_impls import registry
from reference_impls.core.spec import ParamError


def taxonomy_demo_links():
    taxonomies, problems = load_taxonomies(default_taxonomy_dir())
    assert not problems
    return {f"{tid}:{node.id}": node for tid, tax in taxonomies.items() for node, _ in tax.walk()}


def test_every_taxonomy_demo_resolves_and_every_demo_node_names_it():
    nodes = taxonomy_demo_links()
    demos = registry.registry()
    linked = {ref: node.demo for ref, node in nodes.items() if node.demo}
    assert linked, "no taxonomy leaf links a demo"
    for ref, demo_id in linked.items():
        assert demo_id in demos, f"{ref} links unknown demo {demo_id!r}"
        assert nodes[ref].is_leaf, f"{ref} is not a leaf"
        assert ref in demos[demo_id].nodes, f"{ref} links {demo_id} but the demo does not list the node"
    for demo in demos.values():
        assert demo.nodes
        for ref in demo.nodes:
            assert ref in nodes, f"demo {demo.id}: unknown node {ref}"
            assert nodes[ref].demo == demo.id, f"demo {demo.id} claims {ref}, whose demo: is {nodes[ref].demo!r}"


def test_every_demo_paper_exists_in_the_catalog_folder():
    folder = papers_dir(default_catalog_dir())
    for demo in registry.registry().values():
        assert demo.papers
        for pid in demo.papers:
            assert (folder / f"{pid}.yaml").is_file(), f"demo {demo.id}: catalog/papers/{pid}.yaml missing"


def test_parameters_are_checked_with_clear_errors():
    demo = registry.get_demo("solvers")
    assert demo.resolve("quick")["steps"] == [10]
    assert demo.resolve("quick", {"steps": "5,10", "seeds": "3"})["steps"] == [5, 10]
    with pytest.raises(ParamError, match=r"'seeds'.*out of range \[1, 20\]"):
        demo.resolve("quick", {"seeds": 0})
    with pytest.raises(ParamError, match="'solvers'.*not allowed"):
        demo.resolve("quick", {"solvers": "ddim,rk45"})
    with pytest.raises(ParamError, match="has no parameter 'nope'"):
        demo.resolve("quick", {"nope": 1})
    with pytest.raises(ParamError, match="'n_samples'.*not an integer"):
        demo.resolve("quick", {"n_samples": "many"})
    with pytest.raises(ParamError, match="baseline_steps"):
        demo.resolve("quick", {"steps": "60"})
    with pytest.raises(ParamError, match="unknown demo"):
        registry.get_demo("does-not-exist")
