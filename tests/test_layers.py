"""The layers of docs/ARCHITECTURE.md: no module imports from a layer below it in the table
(a higher level number), at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "posesynth"

#: Subpackage (or top-level module) -> level; a module may import its own level and lower numbers.
LEVELS = {
    "util": 0,
    "geometry": 1,
    "body": 2,
    "poses": 3,
    "data": 4,
    "viz": 5,
    "jobs": 6,
    "lift": 7,
    "detect": 7,
    "apps": 8,
    "api": 8,
    "torch": 8,
    "cli": 9,
}


def _layer(dotted: str) -> str | None:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "posesynth" else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            if node.module == "posesynth":  # from posesynth import x: x is the layer
                out.extend((node.lineno, f"posesynth.{a.name}") for a in node.names)
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                out.append((node.lineno, arg.value))
    return out


def test_every_module_belongs_to_a_layer() -> None:
    top = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert top - {"__init__"} <= set(LEVELS), sorted(top - {"__init__"} - set(LEVELS))


def test_no_module_imports_a_higher_layer() -> None:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts == ("__init__.py",):
            continue  # the package root loads its names lazily from every layer
        own = LEVELS[rel.parts[0].removesuffix(".py")]
        for line, module in _imports(path):
            layer = _layer(module)
            if layer is not None and layer in LEVELS and LEVELS[layer] > own:
                bad.append(f"{rel}:{line} imports {module}")
    assert not bad, "\n".join(bad)
