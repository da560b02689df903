"""The floor plan, pinned: imports point one way, and nothing goes around a door.

conversa's private folders are layers (README, "Design notes"):

    _values ← _core ← _flows ← _conversation ← _cli
    _client, _stores: beside the core, never importing its planners or the flows
    _drive, _exceptions: below everything

The test reads every module's imports (those under `if TYPE_CHECKING:` too) and
checks each against the layer's allowed targets, that the module graph has no
cycle, that the flows reach the core only through its door (`conversa._core`), and
that no
module of the package reaches into another's private names (`# noqa: SLF001`).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "conversa"

#: Layer → the layers (or single modules) it may import.
ALLOWED: dict[str, set[str]] = {
    "_drive": set(),
    "_exceptions": set(),
    "_values": {"_exceptions"},
    "_core": {"_values", "_exceptions"},
    "_client": {"_values", "_exceptions", "_drive"},
    # A store gives a turn without a count its estimate; nothing else of the core.
    "_stores": {"_values", "_exceptions", "_drive", "_core.estimate"},
    # The flows reach the core through one door (the `conversa._core` package's
    # namespace, checked below), and the stores through the protocol.
    "_flows": {"_core", "_values", "_exceptions", "_drive", "_stores.protocol"},
    "_conversation": {
        "_flows",
        "_core",
        "_values",
        "_exceptions",
        "_drive",
        "_client",
        "_stores",
    },
    "_cli": {
        "_conversation",
        "_flows",
        "_core",
        "_values",
        "_exceptions",
        "_drive",
        "_client",
        "_stores",
        "testing",
    },
    "testing": set(),
    # The adapters build on the public API (`conversa` itself) and read the
    # replayed turns through the core's door.
    "integrations": {"_core"},
    "__main__": {"_cli"},
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Module → the conversa modules (or packages) it imports."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[
                        : len(package.split(".")) - node.level + 1
                    ]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                if target.startswith("conversa"):
                    found[name].add(target)
            elif isinstance(node, ast.Import):
                found[name].update(
                    a.name for a in node.names if a.name.startswith("conversa")
                )
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _permitted(source: str, target: str) -> bool:
    layer, other = _layer(source), _layer(target)
    if not other or layer == other:
        return True
    if layer == "testing" and source == "conversa.testing.store_contract":
        return target == "conversa"  # the contract uses the public API only
    allowed = ALLOWED[layer]
    inner = ".".join(target.split(".")[1:3])
    return other in allowed or inner in allowed


def test_imports_point_one_way() -> None:
    """Every import goes down the layers (or stays inside its own)."""
    wrong = sorted(
        f"{source} imports {target}"
        for source, targets in _imports().items()
        for target in targets
        if source != "conversa" and not _permitted(source, target)
    )
    assert wrong == []


def test_the_flows_use_the_core_door() -> None:
    """The flows import `conversa._core` itself, none of its modules."""
    around = sorted(
        f"{source} imports {target}"
        for source, targets in _imports().items()
        if source.startswith("conversa._flows")
        for target in targets
        if target.startswith("conversa._core.")
    )
    assert around == []


def test_the_public_door_imports_only_what_it_exports() -> None:
    """`conversa/__init__.py` is the only module above `_cli` (besides `__main__`)."""
    tops = {_layer(m) for m in _imports() if _layer(m) and _layer(m) not in ALLOWED}
    assert tops == set()


def test_no_import_cycle() -> None:
    """The module graph (TYPE_CHECKING imports included) has no cycle."""
    graph = _imports()
    modules = set(graph)

    def resolve(target: str) -> str | None:
        # `from .x import name` may name a module or a package's attribute.
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    edges = {
        m: {r for t in ts if (r := resolve(t)) is not None and r != m}
        for m, ts in graph.items()
    }
    # Package __init__ files re-export their modules: a package → its own module
    # edge is not a cycle of the design.
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)
    assert cycles == []


def test_no_reach_into_private_names() -> None:
    """No module of the package silences ruff's private-access rule (SLF001)."""
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{n}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "SLF001" in line
    ]
    assert offenders == []
