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
    assert at.error and any("already in the catalog: open ddim-2021" in unescape(m.value) for m in at.markdown)
    at = fill(open_contribute(make_app), "@article{broken, title={x\n")
    assert any("malformed BibTeX" in unescape(m.value) for m in at.markdown)
    assert not at.success


ARXIV_BIB = ("@misc{bolya2023token, title={Token Merging for Fast Stable Diffusion}, author={Daniel Bolya and Judy Hoffman},"
             " year={2023}, eprint={2303.17604}, archivePrefix={arXiv}, primaryClass={cs.CV}}")


def test_arxiv_bibtex_without_url_is_previewed_and_accepted(make_app):
    at = open_contribute(make_app)
    at.text_area(key="contribute_bibtex").input(ARXIV_BIB).run()
    preview = "\n".join(unescape(m.value) for m in at.markdown)
    assert "Title: Token Merging for Fast Stable Diffusion" in preview and "Authors: Daniel Bolya, Judy Hoffman" in preview
    assert "https://arxiv.org/abs/2303.17604" in preview and "arXiv: 2303.17604" in preview and "Venue: arXiv" in preview
    at = fill(at, ARXIV_BIB)
    assert at.success, [unescape(m.value) for m in at.markdown]
    assert "url: https://arxiv.org/abs/2303.17604" in at.code[0].value


def test_venue_is_shortened_and_doi_gives_the_link(make_app):
    bib = ("@inproceedings{b, title={A Made Up Fast Sampler for Diffusion}, author={Doe, Jane}, year={2023}, doi={10.1109/CVPR52729.2023.00001},"
           " booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)}}")
    at = fill(open_contribute(make_app), bib)
    assert at.success, [unescape(m.value) for m in at.markdown]
    assert "venue: CVPR" in at.code[0].value and "url: https://doi.org/10.1109/CVPR52729.2023.00001" in at.code[0].value


def test_duplicate_comes_first_with_a_link_and_no_server_path(make_app):
    at = fill(open_contribute(make_app), "@inproceedings{x, title={Denoising Diffusion Implicit Models}, year={2021}, url={https://example.org/ddim}}")
    assert at.error[0].value.startswith("Already in the catalog: open ddim")
    texts = [unescape(m.value) for m in at.markdown] + [e.value for e in at.error]
    assert texts and not any(str(FIXTURE_CATALOG) in t or "/tmp" in t for t in texts), texts
    assert any("papers/ddim-2021.yaml" in t for t in texts)


def test_messages_name_the_page_fields_not_cli_flags(make_app):
    at = open_contribute(make_app)
    at.text_area(key="contribute_bibtex").input("@misc{k, title={Some Brand New Paper}, year={2024}, url={https://example.org/n}}")
    at.button(key="contribute_check").click().run()
    lines = [unescape(m.value) for m in at.markdown if m.value.startswith("- ")]
    assert any(line.startswith("- Summary: missing; write") for line in lines), lines
    assert any("pick a node under" in line for line in lines), lines
    assert not any("--" in line or "field '" in line for line in lines), lines


def test_taxonomy_pickers_follow_the_project_order(make_app):
    from diffatlas import explore
    from diffatlas.catalog import load_catalog
    from tests.conftest import FIXTURE_TAXONOMY
    at = open_contribute(make_app)
    keys = [m.key.removeprefix("contribute_tags_") for m in at.multiselect if m.key.startswith("contribute_tags_")]
    assert keys == explore.taxonomy_ids(load_catalog(FIXTURE_CATALOG, FIXTURE_TAXONOMY))
    assert keys[:3] == ["ulhaq2022", "shen2025", "ma2024"]
