"""The layout's rules, read from the source (AST), so a new import that breaks them fails here.

- Only `kfp_ct.tracking` imports mlflow (lazily or not).
- No import cycle between the packages of `kfp_ct` (a package: a folder under src/kfp_ct; a
  top-level module counts as its own node), counting every import, function-level ones too.
- `kfp_ct.cluster` (Kubernetes primitives) never imports `kfp_ct.deploy`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "kfp_ct"


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        out[name] = ast.parse(path.read_text(), str(path))
    return out


def _imports(module: str, tree: ast.Module) -> set[str]:
    """Every module name `module` imports, resolved to absolute dotted names."""
    found: set[str] = set()
    package = module if module.endswith("__init__") else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _node(module: str) -> str | None:
    """The package a kfp_ct module belongs to (kfp_ct.core.metrics -> core), or None."""
    parts = module.split(".")
    if parts[0] != "kfp_ct" or len(parts) < 2:
        return None
    return parts[1]


def package_graph() -> dict[str, set[str]]:
    """Package -> the packages it imports (edges within one package dropped)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, tree in modules.items():
        src = _node(name)
        if src is None:
            continue
        targets = set()
        for imported in _imports(name, tree):
            dst = _node(imported)
            if dst is not None and dst != src and (f"kfp_ct.{dst}" in modules or dst in _packages()):
                targets.add(dst)
        graph.setdefault(src, set()).update(targets)
    return graph


def _packages() -> set[str]:
    return {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle in `graph` as a list of nodes, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_only_tracking_imports_mlflow():
    offenders = sorted(
        name
        for name, tree in _modules().items()
        if not name.startswith("kfp_ct.tracking")
        and any(i == "mlflow" or i.startswith("mlflow.") for i in _imports(name, tree))
    )
    assert offenders == [], f"modules outside kfp_ct.tracking that import mlflow: {offenders}"


def test_no_import_cycle_between_packages():
    cycle = find_cycle(package_graph())
    assert cycle is None, "import cycle between kfp_ct packages: " + " -> ".join(cycle or [])


def test_cluster_never_imports_deploy():
    assert "deploy" not in package_graph().get("cluster", set())


@pytest.mark.parametrize(
    ("graph", "cyclic"),
    [({"a": {"b"}, "b": {"c"}, "c": set()}, False), ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True)],
)
def test_cycle_finder_finds_cycles(graph, cyclic):
    assert (find_cycle(graph) is not None) is cyclic


def test_graph_sees_function_level_imports(tmp_path):
    tree = ast.parse("def f():\n    from kfp_ct.tracking import runs\n    import mlflow\n")
    assert {"kfp_ct.tracking", "kfp_ct.tracking.runs", "mlflow"} <= _imports("kfp_ct.x.y", tree)
