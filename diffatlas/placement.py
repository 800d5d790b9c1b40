"""Where a placement comes from: the survey's own filing, or the catalog's curation.

Every tag of a paper is a node id in one survey's taxonomy. A survey "files"
a paper when its own list or table puts it in a section; `SECTION_NODES` maps
those sections to the survey's nodes. A tag is then

- `survey`: the survey's own list files the paper at exactly this node;
- `refined`: the survey files it at an ancestor (Ma et al.'s lists stop at
  the part) and the catalog chose the node below;
- `curated`: no list of that survey files it here; diffatlas placed it
  (every paper sits in both main trees, or is marked `outside` with a reason).
"""

from __future__ import annotations

from typing import Literal

Origin = Literal["survey", "refined", "curated"]
ORIGIN_WORDS = {
    "survey": "filed here by the survey",
    "refined": "filed by the survey one level up; the catalog chose this node",
    "curated": "placed here by diffatlas (the survey does not file it here)",
}
ORIGIN_MARKS = {"survey": "", "refined": "°", "curated": "*"}

# Where each survey's own list files a paper -> that survey's taxonomy node.
SECTION_NODES = {
    "ulhaq2022": {
        "Guided": "eds.guidance.guided",
        "Not-Guided": "eds.guidance.not_guided",
        "Discrete": "eds.state_space.discrete",
        "Continuous": "eds.state_space.continuous",
        "Score Network": "eds.formulation.score_network",
        "SDE": "eds.formulation.sde",
        "Pyramidal": "eds.scale.pyramidal",
        "Non-Pyramidal": "eds.scale.non_pyramidal",
        "Latent": "eds.representation.latent",
        "Pixel": "eds.representation.pixel",
        "Training": "eps.training",
        "Noise Ditribution": "eps.noise_distribution",  # the survey's own spelling
        "Noise Distribution": "eps.noise_distribution",
        "Mixing": "eps.mixing",
        "Scheduling": "eps.scheduling",
        "Retreival": "eps.retrieval",  # the survey's own spelling
        "Retrieval": "eps.retrieval",
    },
    "shen2025": {
        "Latent Diffusion": "algorithm.training.latent_diffusion",
        "Loss Formulation": "algorithm.training.loss_formulation",
        "Training Tricks": "algorithm.training.training_tricks",
        "Low-Rank Adaptation": "algorithm.finetuning.lora",
        "Adapter": "algorithm.finetuning.adapter",
        "ControlNet": "algorithm.finetuning.controlnet",
        "Solver": "algorithm.sampling.solver",
        "Sampling Scheduling": "algorithm.sampling.scheduling",
        "Truncated Sampling": "algorithm.sampling.truncated",
        "Knowledge Distillation": "algorithm.sampling.distillation",
        "Quantization": "algorithm.compression.quantization",
        "Pruning": "algorithm.compression.pruning",
        "Hardware-Software Co-Design": "system.hw_sw_codesign",
        "Parallel Computing": "system.parallel",
        "Caching Technique": "system.caching",
        "Frameworks": "framework",
    },
    "ma2024": {f"Part {n}": f"part{n}" for n in range(1, 8)},
}


def section_node(survey: str, section: str) -> str | None:
    """The node a survey's section heading stands for (None: the section is no node, e.g. Table III)."""
    mapping = SECTION_NODES.get(survey, {})
    for part in reversed([s.strip() for s in section.split(">")]):
        for key, node in mapping.items():
            if part == key or part.startswith(key + ":"):
                return node
    return None


def survey_nodes(paper, survey: str) -> set[str]:
    """The nodes where the survey's own lists file this paper."""
    return {node for item in paper.listed_in if item.survey == survey
            for node in [section_node(survey, item.section)] if node}


def tag_origin(paper, survey: str, node_id: str) -> Origin:
    filed = survey_nodes(paper, survey)
    if node_id in filed:
        return "survey"
    if any(node_id.startswith(node + ".") for node in filed):
        return "refined"
    return "curated"


def origins(paper) -> dict[str, dict[str, Origin]]:
    """{taxonomy: {node: origin}} for every tag of the paper."""
    return {tid: {node: tag_origin(paper, tid, node) for node in nodes} for tid, nodes in paper.tags.items()}
