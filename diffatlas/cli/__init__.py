"""The `diffatlas` command. Every sub-command takes --catalog DIR.

This module is the root: it defines the click group `main` and registers the commands of
each command module below, and it is the only list of commands. Command modules import
only `.common` (and the library), never this module, so importing any of them first works.
"""

from __future__ import annotations

import click

from . import app_cmd, bib_cmds, catalog_cmds, contribute_cmds, demo_cmds, sweep_cmds
from . import leaderboard_cmd  # noqa: F401  (adds `results leaderboard` to the results group)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="diffatlas")
def main() -> None:
    """diffatlas: the efficient-diffusion literature as a validated catalog, app and demos."""


for _command in (
    catalog_cmds.validate,
    catalog_cmds.stats,
    bib_cmds.bib,
    bib_cmds.sources,
    contribute_cmds.add,
    contribute_cmds.render,
    app_cmd.app_command,
    demo_cmds.demo,
    demo_cmds.results,
    sweep_cmds.sweep,
):
    main.add_command(_command)
del _command

__all__ = ["main"]
