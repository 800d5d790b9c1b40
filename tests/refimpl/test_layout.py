"""The layout rules: a demo imports only the core, never another demo or diffatlas; the core imports no family."""

from __future__ import annotations

import ast
from pathlib import Path

import reference_impls
from reference_impls import registry

ROOT = Path(reference_impls.__file__).resolve().parent


def imports_of(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved against its package)."""
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def test_demos_import_only_the_core():
    for name in registry.DEMO_MODULES:
        path = ROOT / (name.replace(".", "/") + ".py")
        for mod in imports_of(path):
            assert not mod.startswith("diffatlas"), f"{path.name} imports {mod}: a demo never imports diffatlas"
            if mod.startswith("reference_impls.") and not mod.startswith("reference_impls.core"):
                assert False, f"{path.relative_to(ROOT)} imports {mod}: a demo imports only reference_impls.core"


def test_the_core_imports_no_family_and_no_diffatlas():
    for path in (ROOT / "core").glob("*.py"):
        for mod in imports_of(path):
            assert not mod.startswith("diffatlas"), f"core/{path.name} imports {mod}"
            assert not mod.startswith("reference_impls.") or mod.startswith("reference_impls.core"), \
                f"core/{path.name} imports {mod}"


def test_every_family_index_lists_its_demos():
    for name in registry.DEMO_MODULES:
        family, demo = name.split(".")
        index = (ROOT / family / "__init__.py").read_text(encoding="utf-8")
        assert f"`{demo}`" in index, f"{family}/__init__.py does not list {demo}"


def test_the_torch_free_modules_stay_torch_free():
    import subprocess
    import sys

    code = ("import sys, reference_impls.core.result, reference_impls.core.spec, reference_impls.core.paths, "
            "diffatlas.results, diffatlas.report; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
