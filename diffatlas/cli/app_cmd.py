"""`diffatlas app`: start the Streamlit web app on this machine.

Streamlit's own configuration keeps working: only the options the user gave (--port, --host,
--browser/--no-browser) become Streamlit flags, so $STREAMLIT_SERVER_PORT, .streamlit/config.toml
and the rest are obeyed otherwise. This app's defaults go in through the environment, each only
when the user has not set that option anywhere: this machine only (localhost), no usage
statistics (the app works offline), a minimal toolbar, no first-run e-mail prompt (Streamlit
asks for an address on standard input and waits), and headless mode when nobody could use a
browser window or answer a prompt (no display, or standard input is not a terminal).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping, Optional

import click

from ..paths import REPO_ROOT, default_catalog_dir
from .common import catalog_option

APP_MAIN = REPO_ROOT / "app" / "main.py"

# Defaults of this app, as (section, option, environment variable, value): serve this machine
# only (Streamlit's own default is every interface, and it then looks up the external IP online).
QUIET_DEFAULTS = [
    ("server", "address", "STREAMLIT_SERVER_ADDRESS", "localhost"),
    ("browser", "gatherUsageStats", "STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false"),
    ("client", "toolbarMode", "STREAMLIT_CLIENT_TOOLBAR_MODE", "minimal"),
    ("server", "showEmailPrompt", "STREAMLIT_SERVER_SHOW_EMAIL_PROMPT", "false"),
]


def streamlit_command(port: Optional[int], host: Optional[str], open_browser: Optional[bool]) -> list[str]:
    """`streamlit run app/main.py` with a flag for each option given, and none for the others."""
    command = [sys.executable, "-m", "streamlit", "run", str(APP_MAIN)]
    if port is not None:
        command += ["--server.port", str(port)]
    if host is not None:
        command += ["--server.address", host]
    if open_browser is not None:
        command += ["--server.headless", "false" if open_browser else "true"]
    return command


def config_files() -> list[Path]:
    """The config files Streamlit reads for `diffatlas app`: the user's, the working directory's, the app's."""
    return [Path.home() / ".streamlit" / "config.toml", Path.cwd() / ".streamlit" / "config.toml",
            APP_MAIN.parent / ".streamlit" / "config.toml"]


def configured(section: str, option: str, env: Mapping[str, str], env_var: str) -> bool:
    """Whether the user set this Streamlit option, in the environment or in a config file."""
    if env_var in env:
        return True
    try:
        import tomllib
    except ImportError:  # Python 3.10: config files are not inspected; the environment still is
        return False
    for path in config_files():
        try:
            if option in tomllib.loads(path.read_text(encoding="utf-8")).get(section, {}):
                return True
        except (OSError, ValueError):
            continue
    return False


def nobody_can_answer(env: Mapping[str, str]) -> bool:
    """No display to open a browser on, or standard input is not a terminal (a script, a service)."""
    no_display = sys.platform.startswith("linux") and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY")
    try:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):
        interactive = False
    return no_display or not interactive


def streamlit_env(base: Mapping[str, str], catalog_dir: Optional[Path], taxonomy_dir: Optional[Path]) -> dict:
    """The environment Streamlit runs in: the catalog chosen, and the defaults the user left unset."""
    env = dict(base)
    if catalog_dir:
        env["DIFFATLAS_CATALOG"] = str(Path(catalog_dir).resolve())
    if taxonomy_dir:
        env["DIFFATLAS_TAXONOMY"] = str(Path(taxonomy_dir).resolve())
    for section, option, env_var, value in QUIET_DEFAULTS:
        if not configured(section, option, env, env_var):
            env[env_var] = value
    if nobody_can_answer(env) and not configured("server", "headless", env, "STREAMLIT_SERVER_HEADLESS"):
        env["STREAMLIT_SERVER_HEADLESS"] = "true"
    return env


@click.command("app")
@catalog_option
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port to serve on (default: Streamlit's: $STREAMLIT_SERVER_PORT, .streamlit/config.toml, else 8501).")
@click.option("--host", default=None,
              help="Address to bind, e.g. 0.0.0.0 to share on the network (default: Streamlit's).")
@click.option("--browser/--no-browser", "open_browser", default=None,
              help="Open the app in a web browser once it is up (default: Streamlit's, headless without a display).")
def app_command(catalog_dir, taxonomy_dir, port, host, open_browser):
    """Start the web app (taxonomy explorer, papers, maps) with Streamlit."""
    if not APP_MAIN.is_file():
        raise click.ClickException(f"app not found at {APP_MAIN}; run from a source checkout (pip install -e .)")
    env = streamlit_env(os.environ, catalog_dir, taxonomy_dir)
    command = streamlit_command(port, host, open_browser)
    shown_port = port or env.get("STREAMLIT_SERVER_PORT")  # else a config file's, or 8501: Streamlit prints it
    shown_host = host or env.get("STREAMLIT_SERVER_ADDRESS") or "localhost"
    where = f"http://{shown_host}:{shown_port}" if shown_port else "the address Streamlit prints below"
    catalog = Path(env.get("DIFFATLAS_CATALOG") or default_catalog_dir()).resolve()
    click.echo(f"diffatlas app on {where} (catalog: {catalog})", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process with Streamlit so Ctrl-C and signals reach it directly.
    os.execve(sys.executable, command, env)
