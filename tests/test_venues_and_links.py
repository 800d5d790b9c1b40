"""Derived contribution fields: the link from eprint/doi, and venues in the catalog's short forms."""

from __future__ import annotations

import pytest

from diffatlas.contribute import complete_fields, fields_from_bibtex
from diffatlas.venues import short_venue


@pytest.mark.parametrize("venue, short", [
    ("Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition", "CVPR"),
    ("Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition Workshops", "CVPRW"),
    ("Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)", "ICCV"),
    ("European Conference on Computer Vision", "ECCV"),
    ("Advances in Neural Information Processing Systems", "NeurIPS"),
    ("NIPS", "NeurIPS"),
    ("The Eleventh International Conference on Learning Representations", "ICLR"),
    ("International Conference on Machine Learning", "ICML"),
    ("Proceedings of the AAAI Conference on Artificial Intelligence", "AAAI"),
    ("Transactions on Machine Learning Research", "TMLR"),
    ("IEEE Transactions on Pattern Analysis and Machine Intelligence", "PAMI"),
    ("arXiv preprint arXiv:2303.17604", "arXiv"),
    ("Nature", "Nature"),
])
def test_short_venue(venue, short):
    assert short_venue(venue) == short


def test_every_short_form_is_one_the_catalog_uses_or_a_listed_one():
    from diffatlas.catalog import load_catalog
    from diffatlas.venues import VENUE_RULES
    used = {p.venue for p in load_catalog().papers.values()}
    assert {"CVPR", "NeurIPS", "ICLR", "ICML"} <= used
    assert all(short_venue(short) == short for short, _ in VENUE_RULES)


def test_arxiv_bibtex_gets_its_abs_link_and_doi_its_resolver_link():
    fields = fields_from_bibtex("@misc{k, title={T}, year={2023}, eprint={2303.17604}, archivePrefix={arXiv}}")
    assert "url" not in fields
    done = complete_fields(fields)
    assert done["url"] == "https://arxiv.org/abs/2303.17604" and done["venue"] == "arXiv"
    assert complete_fields({"title": "T", "doi": "10.1000/xyz"})["url"] == "https://doi.org/10.1000/xyz"
    assert complete_fields({"url": "https://example.org/p", "arxiv": "2303.17604"})["url"] == "https://example.org/p"
