"""The catalog's short venue names ("CVPR", "NeurIPS", ...) for what BibTeX spells out in full.

A contributor's BibTeX says "Proceedings of the IEEE/CVF Conference on Computer
Vision and Pattern Recognition"; the catalog says "CVPR". The forms below are the
ones the committed catalog already uses, so a new entry files and filters with
the papers already there. A venue that matches no rule is kept as written.
"""

from __future__ import annotations

import re

# (short form, pattern searched in the lower-cased venue). Order matters: workshops and
# specific names come before the conference they belong to.
VENUE_RULES: list[tuple[str, str]] = [
    ("arXiv", r"^(arxiv|corr)\b|arxiv preprint"),
    ("CVPRW", r"(computer vision and pattern recognition|\bcvpr\b).*workshop|^cvprw\b"),
    ("NeurIPS Workshop", r"(neural information processing systems|\bneurips\b|\bnips\b).*workshop"),
    ("EMNLP Findings", r"findings of .*(emnlp|empirical methods)|^emnlp findings\b"),
    ("SIGGRAPH Asia", r"siggraph asia"),
    ("CVPR", r"computer vision and pattern recognition|^cvpr\b"),
    ("ICCV", r"international conference on computer vision|^iccv\b"),
    ("ECCV", r"european conference on computer vision|^eccv\b"),
    ("WACV", r"winter conference on applications of computer vision|^wacv\b"),
    ("NeurIPS", r"neural information processing systems|^neurips\b|^nips\b"),
    ("ICLR", r"international conference on learning representations|^iclr\b"),
    ("ICML", r"international conference on machine learning|^icml\b"),
    ("AAAI", r"aaai conference on artificial intelligence|^aaai\b"),
    ("IJCAI", r"international joint conference on artificial intelligence|^ijcai\b"),
    ("UAI", r"uncertainty in artificial intelligence|^uai\b"),
    ("EMNLP", r"empirical methods in natural language processing|^emnlp\b"),
    ("NAACL", r"north american chapter of the association for computational linguistics|^naacl\b"),
    ("ACL", r"annual meeting of the association for computational linguistics|^acl\b"),
    ("COLING", r"international conference on computational linguistics|^coling\b"),
    ("ACM MM", r"acm (international )?conference on multimedia|^acm mm\b|^acmmm\b"),
    ("MICCAI", r"medical image computing and computer.assisted intervention|^miccai\b"),
    ("MLSys", r"conference on machine learning and systems|^mlsys\b"),
    ("ASPLOS", r"architectural support for programming languages|^asplos\b"),
    ("ACM Transactions on Graphics", r"acm transactions on graphics|^acm tog\b|^tog\b"),
    ("SIGGRAPH", r"\bsiggraph\b"),
    ("PAMI", r"transactions on pattern analysis and machine intelligence|^t?pami\b"),
    ("IJCV", r"international journal of computer vision|^ijcv\b"),
    ("TMLR", r"transactions on machine learning research|^tmlr\b"),
    ("JMLR", r"journal of machine learning research|^jmlr\b"),
    ("TASLP", r"transactions on audio,? speech,? and language processing|^taslp\b"),
]
_COMPILED = [(short, re.compile(pattern)) for short, pattern in VENUE_RULES]


def short_venue(venue: str | None) -> str | None:
    """The catalog's short form of a venue ('Advances in Neural Information Processing Systems' -> 'NeurIPS'), else it as given."""
    if not venue:
        return venue
    key = re.sub(r"\s+", " ", venue).strip().lower()
    for short, pattern in _COMPILED:
        if pattern.search(key):
            return short
    return venue.strip()
