"""`diffatlas app`: start the Streamlit web app on this machine."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..paths import REPO_ROOT
from .common import catalog_option

APP_MAIN = REPO_ROOT / "app" / "main.py"


def streamlit_command(port: int, host: str, open_browser: bool) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_MAIN),
        "--server.port", str(port),
        "--server.address", host,
        "--server.headless", "false" if open_browser else "true",
        "--browser.gatherUsageStats", "false",
        "--global.showWarningOnDirectExecution", "false",
        "--client.toolbarMode", "minimal",
    ]


@click.command("app")
@catalog_option
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True, help="Port to serve on.")
@click.option("--host", default="localhost", show_default=True, help="Address to bind (0.0.0.0 to share on the network).")
@click.option("--browser/--no-browser", "open_browser", default=True, show_default=True,
              help="Open the app in a web browser once it is up.")
def app_command(catalog_dir, taxonomy_dir, port, host, open_browser):
    """Start the web app (taxonomy explorer, papers, maps) on http://HOST:PORT."""
    if not APP_MAIN.is_file():
        raise click.ClickException(f"app not found at {APP_MAIN}; run from a source checkout (pip install -e .)")
    env = dict(os.environ)
    if catalog_dir:
        env["DIFFATLAS_CATALOG"] = str(Path(catalog_dir).resolve())
    if taxonomy_dir:
        env["DIFFATLAS_TAXONOMY"] = str(Path(taxonomy_dir).resolve())
    env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    command = streamlit_command(port, host, open_browser)
    click.echo(f"diffatlas app on http://{host}:{port} (catalog: {env.get('DIFFATLAS_CATALOG', REPO_ROOT / 'catalog')})", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process with Streamlit so Ctrl-C and signals reach it directly.
    os.execve(sys.executable, command, env)
