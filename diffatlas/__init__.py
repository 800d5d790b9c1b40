"""diffatlas: a curated, validated knowledge base of efficient diffusion models."""

__version__ = "0.1.0"
