"""The package's layering, as the README's code layout states it.

bss/ (the numerics) imports neither io/ nor click nor the layers above it;
io/ (files and streams) knows nothing of separation; only cli.py imports
click. Checked on the source, so a new import that breaks a rule fails here
whether or not a test happens to run it.
"""

import ast

import pytest

from helpers import ROOT

PACKAGE = ROOT / "cocktail"


def imports_of(path, root=ROOT):
    """The absolute module names a file below ``root`` imports (relative imports resolved)."""
    parts = path.relative_to(root).with_suffix("").parts
    package = parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                stem = ".".join(base + ((node.module,) if node.module else ()))
            else:
                stem = node.module
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)
    return found


def modules(folder):
    return sorted(p for p in folder.glob("*.py"))


@pytest.mark.parametrize("path", modules(PACKAGE / "bss"), ids=lambda p: p.name)
def test_the_numerics_import_no_input_output_and_no_layer_above(path):
    cocktail = {m for m in imports_of(path) if m.split(".")[0] == "cocktail"}
    allowed = {"cocktail", "cocktail.bss", "cocktail.errors", "cocktail.errors.CocktailError"}
    outside = {m for m in cocktail if m not in allowed and not m.startswith("cocktail.bss.")}
    assert outside == set()
    assert not any(m.split(".")[0] == "click" for m in imports_of(path))


@pytest.mark.parametrize("path", modules(PACKAGE / "io"), ids=lambda p: p.name)
def test_input_output_knows_nothing_of_separation(path):
    cocktail = {m for m in imports_of(path) if m.split(".")[0] == "cocktail"}
    outside = {
        m
        for m in cocktail
        if not m.startswith(("cocktail.io", "cocktail.errors")) and m != "cocktail"
    }
    assert outside == set()
    assert not any(m.split(".")[0] == "click" for m in imports_of(path))


def test_only_the_command_line_imports_click():
    users = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if any(m.split(".")[0] == "click" for m in imports_of(p))
    )
    assert users == ["cli.py"]


def test_the_check_sees_relative_and_absolute_imports(tmp_path):
    folder = tmp_path / "cocktail" / "bss"
    folder.mkdir(parents=True)
    module = folder / "example.py"
    module.write_text("from ..io import audio\nfrom . import stft\nimport cocktail.separation\n")
    found = imports_of(module, tmp_path)
    assert {"cocktail.io.audio", "cocktail.bss.stft", "cocktail.separation"} <= found
