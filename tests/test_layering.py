"""The layering rules of DESIGN.md, checked on the source: imports point downward with no
circle, code outside the engine uses public API only, no string switches on library names, short
files, and the Tensor's bound methods declared for type checkers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import xpgrad

SRC = Path(xpgrad.__file__).parent
ROOT = SRC.parent.parent
ENGINE = ("autograd", "backend")  # the only packages allowed to touch the private parts of tensors
PRIVATE = {"_backend", "_make", "_ctx", "_loaded", "_dtype_name", "_TABLES"}
LIBRARIES = {"numpy", "cupy", "array_api_strict"}


def _sources(*roots):
    for root in roots:
        yield from sorted(p for p in root.rglob("*.py") if "build" not in p.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str):
    """Modules of this package that ``path`` imports, at the top or inside functions (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(body):
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                yield from visit(list(ast.iter_child_nodes(node)))
            elif isinstance(node, ast.Import):
                yield from (a.name for a in node.names if a.name.startswith("xpgrad"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.startswith("xpgrad"):
                    # ``from . import x`` imports the submodule x when it is one
                    subs = [f"{target}.{a.name}" for a in node.names]
                    yield from (s for s in subs if _exists(s)) or ()
                    yield target

    yield from visit(tree.body)


def _exists(module: str) -> bool:
    rel = Path(*module.split("."))
    return (SRC.parent / rel).with_suffix(".py").exists() or (SRC.parent / rel / "__init__.py").exists()


def test_no_import_cycles():
    graph = {}
    for path in _sources(SRC):
        mod = _module_name(path)
        # importing a submodule imports its parent packages first: that edge is not a cycle
        graph[mod] = {m for m in _imports(path, mod) if m != mod and not mod.startswith(m + ".")}
    state, cycle = {}, []

    def dfs(node, stack):
        state[node] = "active"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "active":
                cycle.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                dfs(nxt, stack + [nxt])
        state[node] = "done"

    for mod in sorted(graph):
        if mod not in state:
            dfs(mod, [mod])
    real = [c for c in cycle if not ALLOWED_CYCLE.issuperset(_package_of(m) for m in c)]
    assert real == [], "import cycles: " + "; ".join(" -> ".join(c) for c in real)


# The one allowed circle: the registry fills the backend table through the register_backends hook,
# and the backend layer asks it to load (inside a function) the first time it looks a name up.
ALLOWED_CYCLE = {"xpgrad.backend", "xpgrad.registry"}


def _package_of(module: str) -> str:
    return "xpgrad.backend" if module.startswith("xpgrad.backend.") else module


@pytest.mark.parametrize("path", [p for p in _sources(SRC, ROOT / "plugins")
                                  if not set(ENGINE) & set(p.relative_to(ROOT).parts[2:3])],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_public_api_only_outside_the_engine(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    used = sorted({f"{node.attr} (line {node.lineno})" for node in ast.walk(tree)
                   if isinstance(node, ast.Attribute) and node.attr in PRIVATE})
    assert used == [], f"{path.name} reaches into private attributes: {used}"


def test_no_string_switches_on_library_names_outside_the_backend():
    offenders = []
    for path in _sources(SRC):
        if "backend" in path.relative_to(SRC).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                consts = [c for c in [node.left, *node.comparators] if isinstance(c, (ast.Constant, ast.Tuple))]
                names = {c.value for c in consts if isinstance(c, ast.Constant)} | {
                    e.value for t in consts if isinstance(t, ast.Tuple) for e in t.elts if isinstance(e, ast.Constant)}
                if names & LIBRARIES:
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []


@pytest.mark.parametrize("path", list(_sources(SRC, ROOT / "plugins", ROOT / "tests")),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_source_files_are_short(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= 500, f"{path.relative_to(ROOT)} has {n} lines; split it by topic"


def test_tensor_declares_every_bound_method_for_type_checkers():
    from xpgrad.autograd import methods
    from xpgrad.autograd.tensor import Tensor

    tree = ast.parse((SRC / "autograd" / "tensor.py").read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Tensor")
    block = next(n for n in cls.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test))
    declared = {n.name for n in block.body if isinstance(n, ast.FunctionDef)}
    bound = set(methods._METHODS) | {"T", "mT", "__array_namespace__"}  # the namespace binds the last
    assert declared == bound
    assert all(hasattr(Tensor, name) for name in declared)


def test_package_is_marked_typed():
    assert (SRC / "py.typed").exists()
