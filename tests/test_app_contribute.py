"""The Contribute page: same checks as `diffatlas add`, a YAML file to download, nothing written."""

from __future__ import annotations

from tests.conftest import FIXTURE_CATALOG

PAGE = "views/contribute.py"
NEW_BIB = ("@inproceedings{bolya2023, title={Token Merging for Fast Stable Diffusion}, author={Bolya, Daniel and Hoffman, Judy},"
           " booktitle={CVPRW}, year={2023}, url={https://arxiv.org/abs/2303.17604}}")


def unescape(markdown: str) -> str:
    return markdown.replace("\\", "")


def open_contribute(make_app):
    at = make_app()
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def fill(at, bibtex: str, summary: str = "Merges redundant tokens inside the U-Net so each step processes fewer of them."):
    at.text_area(key="contribute_bibtex").input(bibtex)
    at.text_area(key="contribute_summary").input(summary)
    at.multiselect(key="contribute_tags_ulhaq2022").select("eps.scheduling")
    at.multiselect(key="contribute_tags_shen2025").select("algorithm.compression.pruning")
    at.button(key="contribute_check").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_valid_bibtex_gives_yaml_and_git_steps_without_writing(make_app):
    before = sorted(p.name for p in (FIXTURE_CATALOG / "papers").iterdir())
    at = fill(open_contribute(make_app), NEW_BIB)
    assert [s.value for s in at.success][0].startswith("Valid: this would be `catalog/papers/token-merging-fast-stable-2023.yaml`")
    yaml_block, git_block = at.code[0].value, at.code[1].value
    assert "title: Token Merging for Fast Stable Diffusion" in yaml_block
    assert "- Daniel Bolya" in yaml_block and "algorithm.compression.pruning" in yaml_block
    assert "git checkout -b add-token-merging-fast-stable-2023" in git_block
    assert sorted(p.name for p in (FIXTURE_CATALOG / "papers").iterdir()) == before


def test_duplicate_and_malformed_bibtex_are_refused(make_app):
    at = fill(open_contribute(make_app), "@inproceedings{x, title={Denoising Diffusion Implicit Models}, year={2021}, url={https://example.org/ddim}}")
    assert at.error and any("already has this paper as ddim-2021" in unescape(m.value) for m in at.markdown)
    at = fill(open_contribute(make_app), "@article{broken, title={x\n")
    assert any("malformed BibTeX" in unescape(m.value) for m in at.markdown)
    assert not at.success
