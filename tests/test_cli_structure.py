"""The CLI package has no import circle: the root registers the command modules, and no
command module imports the root back (they import only diffatlas.cli.common)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import diffatlas

CLI_DIR = Path(diffatlas.__file__).resolve().parent / "cli"
COMMAND_MODULES = sorted(p for p in CLI_DIR.glob("*.py") if p.name != "__init__.py")


def root_imports(path: Path) -> list[str]:
    """Every import in PATH that reaches the root module diffatlas.cli (its __init__.py)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names
                      if a.name in ("diffatlas.cli", "diffatlas.cli.__init__")]
        elif isinstance(node, ast.ImportFrom):
            where = f"line {node.lineno}: from {'.' * node.level}{node.module or ''} import " + \
                ", ".join(a.name for a in node.names)
            if node.level == 0:
                # `from diffatlas.cli import x` reaches the root; `from diffatlas.cli.common import x` does not,
                # `from diffatlas import cli` does.
                if node.module in ("diffatlas.cli", "diffatlas.cli.__init__") or (
                        node.module == "diffatlas" and any(a.name == "cli" for a in node.names)):
                    found.append(where)
            elif node.level == 1:
                # Inside diffatlas/cli/: `from . import x` and `from .__init__ import x` name the root.
                if node.module in (None, "__init__"):
                    found.append(where)
            elif node.level == 2:
                # `from .. import cli` or `from ..cli import x` from inside diffatlas/cli/.
                if node.module in ("cli", "cli.__init__") or (
                        node.module is None and any(a.name == "cli" for a in node.names)):
                    found.append(where)
    return found


def test_the_cli_package_has_the_expected_command_modules():
    names = {p.name for p in COMMAND_MODULES}
    assert {"common.py", "catalog_cmds.py", "bib_cmds.py", "contribute_cmds.py", "app_cmd.py", "demo_cmds.py"} <= names
    for old in ("cli.py", "cli_app.py", "cli_contribute.py", "cli_demo.py"):
        assert not (CLI_DIR.parent / old).exists(), f"diffatlas/{old} should be gone (see diffatlas/cli/)"


@pytest.mark.parametrize("path", COMMAND_MODULES, ids=lambda p: p.name)
def test_no_command_module_imports_the_root(path):
    assert root_imports(path) == [], f"{path.name} imports the root diffatlas.cli; import from .common instead"


def test_the_checker_catches_root_imports(tmp_path):
    bad = tmp_path / "bad_cmds.py"
    for line in ("from . import main", "from .__init__ import main", "from diffatlas.cli import main",
                 "import diffatlas.cli", "from diffatlas import cli", "from ..cli import main", "from .. import cli",
                 "def f():\n    from . import main"):
        bad.write_text(line + "\n")
        assert root_imports(bad), line
    bad.write_text("from .common import catalog_option\nfrom ..results import table\nfrom diffatlas.cli.common import fail\n")
    assert root_imports(bad) == []


def test_common_imports_no_command_module():
    tree = ast.parse((CLI_DIR / "common.py").read_text(encoding="utf-8"))
    local = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 1]
    assert local == [], "common.py is the leaf: it must not import other modules of diffatlas/cli/"


@pytest.mark.parametrize("module", ["diffatlas.cli.demo_cmds", "diffatlas.cli.contribute_cmds", "diffatlas.cli.app_cmd"])
def test_a_command_module_imports_first_on_its_own(module):
    """Importing a command module before anything else works (no circle through the root)."""
    out = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120,
                         cwd=CLI_DIR.parent.parent)
    assert out.returncode == 0, out.stderr[-2000:]


@pytest.mark.parametrize("path", COMMAND_MODULES, ids=lambda p: p.name)
def test_a_command_module_imports_with_the_root_never_run(path):
    """Python runs diffatlas/cli/__init__.py before any submodule; here an empty stand-in takes its
    place, so a command module that needed anything from the root would fail to import."""
    code = ("import sys, types, diffatlas; "
            "root = types.ModuleType('diffatlas.cli'); root.__path__ = [%r]; root.__package__ = 'diffatlas.cli'; "
            "sys.modules['diffatlas.cli'] = root; "
            "import importlib; importlib.import_module('diffatlas.cli.%s'); "
            "print(hasattr(root, 'main'))") % (str(CLI_DIR), path.stem)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=CLI_DIR.parent.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False"]


def test_the_root_registers_every_command():
    from diffatlas.cli import main

    assert set(main.commands) == {"validate", "stats", "bib", "sources", "add", "render", "app", "demo", "results", "sweep"}
