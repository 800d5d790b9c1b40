"""`python -m diffatlas` runs the CLI."""

from .cli import main

main()
