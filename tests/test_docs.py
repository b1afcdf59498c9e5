"""The Python examples in README.md and docs/*.md parse, and every name they import from ``spiking`` exists."""
import ast
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


BLOCKS = [(f"{page.name}#{k}", block) for page in PAGES for k, block in enumerate(python_blocks(page.read_text()))]


def spiking_imports(tree: ast.AST):
    """(module, name or None) for each import of or from a ``spiking`` module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "spiking":
            yield from ((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names if alias.name.split(".")[0] == "spiking")


def test_the_pages_have_examples():
    assert len(BLOCKS) >= 8
    assert python_blocks("```python\nx = 1\n```\n```sh\nls\n```\n") == ["x = 1\n"]


@pytest.mark.parametrize("where,block", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_example_imports_exist(where, block):
    tree = ast.parse(block, filename=where)
    for module, name in spiking_imports(tree):
        imported = importlib.import_module(module)
        assert name is None or hasattr(imported, name) or importlib.util.find_spec(f"{module}.{name}"), \
            f"{where}: {module} has no {name}"
