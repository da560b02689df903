"""The public API is pinned: `__all__` and every public signature match a snapshot.

`tests/public_api.json` records, for `conversa`, `conversa.testing` and the modules
of `conversa.integrations`, each name in
`__all__` with its kind (class, function, type alias, constant, module); for classes
their public bases (for exceptions, every base up to ``object``), the
``__init__``/``__call__`` signatures and every public member (method, classmethod,
staticmethod, property, attribute) with its `inspect.signature`; for functions their
signature. Annotations are the strings the modules write (``from __future__ import
annotations``), so they survive moving a class to another private module as long as
no name changes. Module paths are deliberately not recorded: private modules may
move; the public API may not.

Regenerate the snapshot only for a documented public addition, and say so in
CHANGELOG.md::

    python -m tests.test_public_api
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest

SNAPSHOT = Path(__file__).with_name("public_api.json")
PACKAGES = ("conversa", "conversa.testing")
#: Public modules behind an extra (`conversa.integrations`): pinned by the snapshot
#: too; their `__all__` lists what they define, not what a package re-exports.
MODULES = ("conversa.integrations.langchain", "conversa.integrations.pydantic_ai")

# Dunder protocols a caller relies on (with, async with, for, async for, len, ...).
_PROTOCOLS = (
    "__aenter__",
    "__aexit__",
    "__aiter__",
    "__anext__",
    "__await__",
    "__bool__",
    "__contains__",
    "__enter__",
    "__exit__",
    "__getitem__",
    "__iter__",
    "__len__",
    "__next__",
)
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


class _Default:
    """A parameter default whose repr is the same in every run (sets sorted, no addresses)."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __repr__(self) -> str:
        value = self.value
        if isinstance(value, (set, frozenset)):
            items = ", ".join(sorted(repr(item) for item in value))
            inner = "{" + items + "}" if items else ""
            return f"{type(value).__name__}({inner})"
        return _ADDRESS.sub("", repr(value))


def _signature(obj: Any) -> str | None:
    """`str(inspect.signature(obj))` with stable defaults, or None where there is none."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params = [
        p if p.default is p.empty else p.replace(default=_Default(p.default))
        for p in sig.parameters.values()
    ]
    return str(sig.replace(parameters=params))


def _ours(obj: object) -> bool:
    """Whether `obj` (a class or function) is defined in conversa, whatever the module."""
    module = getattr(obj, "__module__", None) or ""
    return module == "conversa" or module.startswith("conversa.")


def _own_init(cls: type) -> bool:
    """Whether conversa (not a base from the stdlib or a dependency) defines construction."""
    for klass in cls.__mro__:
        found = [
            klass.__dict__[k] for k in ("__new__", "__init__") if k in klass.__dict__
        ]
        if found:
            return any(_ours(f) for f in found)
    return False


def _member(value: Any, cls: type, name: str) -> dict[str, Any]:
    """One public class member: its kind and, for callables, its signature."""
    if isinstance(value, staticmethod):
        return {"kind": "staticmethod", "signature": _signature(value.__func__)}
    if isinstance(value, classmethod):
        return {"kind": "classmethod", "signature": _signature(getattr(cls, name))}
    if isinstance(value, property):
        return {
            "kind": "property",
            "settable": value.fset is not None,
            "signature": _signature(value.fget),
        }
    if isinstance(value, types.FunctionType):
        return {"kind": "method", "signature": _signature(value)}
    if callable(value) and not inspect.isclass(value):
        # functools.cached_property, wrapped methods and other descriptors.
        return {"kind": type(value).__name__, "signature": _signature(value)}
    return {"kind": "attribute"}


def _class(cls: type, exported: set[str]) -> dict[str, Any]:
    """A public class: bases, construction and call signatures, public members."""
    is_exception = issubclass(cls, BaseException)
    bases = [
        base.__name__
        for base in cls.__mro__[1:-1]
        if is_exception or base.__name__ in exported or not _ours(base)
    ]
    members: dict[str, Any] = {}
    protocols: list[str] = []
    for klass in cls.__mro__:
        if not _ours(klass):
            continue
        for name, value in vars(klass).items():
            if name in _PROTOCOLS and name not in protocols:
                protocols.append(name)
            if name.startswith("_") or name in members:
                continue
            members[name] = _member(value, cls, name)
    entry: dict[str, Any] = {
        "kind": "class",
        "bases": bases,
        "signature": _signature(cls) if _own_init(cls) else None,
    }
    call = next(
        (k.__dict__["__call__"] for k in cls.__mro__ if "__call__" in k.__dict__), None
    )
    if call is not None and _ours(call):
        entry["call"] = _signature(call)
    if protocols:
        entry["protocols"] = sorted(protocols)
    entry["members"] = dict(sorted(members.items()))
    return entry


def _entry(name: str, obj: Any, exported: set[str]) -> dict[str, Any]:
    """What one exported name is, as recorded in the snapshot."""
    if inspect.ismodule(obj):
        return {"kind": "module", "all": sorted(getattr(obj, "__all__", []))}
    if inspect.isclass(obj):
        return _class(obj, exported)
    if isinstance(obj, types.UnionType) or typing.get_origin(obj) is typing.Union:
        return {
            "kind": "type alias",
            "of": [getattr(a, "__name__", repr(a)) for a in typing.get_args(obj)],
        }
    if inspect.isroutine(obj):
        return {"kind": "function", "signature": _signature(obj)}
    entry: dict[str, Any] = {"kind": "constant", "type": type(obj).__name__}
    if name != "__version__" and isinstance(obj, (bool, int, float, str)):
        entry["value"] = repr(obj)
    return entry


def snapshot() -> dict[str, Any]:
    """The public API of conversa and conversa.testing as it is now."""
    result: dict[str, Any] = {}
    for package in PACKAGES + MODULES:
        module = importlib.import_module(package)
        exported = set(module.__all__)
        result[package] = {
            name: _entry(name, getattr(module, name), exported)
            for name in sorted(module.__all__)
        }
    return result


def _flatten(api: dict[str, Any], prefix: str) -> dict[str, Any]:
    """One row per name and per class member, keyed by its dotted path."""
    rows: dict[str, Any] = {}
    for name, entry in api.items():
        path = f"{prefix}.{name}"
        members = entry.get("members", {}) if isinstance(entry, dict) else {}
        rows[path] = {k: v for k, v in entry.items() if k != "members"}
        for member, value in members.items():
            rows[f"{path}.{member}"] = value
    return rows


def _diff(old: dict[str, Any], new: dict[str, Any], prefix: str) -> str:
    """A readable account of what was added, removed and changed."""
    before, after = _flatten(old, prefix), _flatten(new, prefix)
    lines = [
        f"+ added   {p}: {json.dumps(after[p])}"
        for p in sorted(after.keys() - before.keys())
    ]
    lines += [
        f"- removed {p}: {json.dumps(before[p])}"
        for p in sorted(before.keys() - after.keys())
    ]
    for path in sorted(before.keys() & after.keys()):
        if before[path] != after[path]:
            lines.append(f"~ changed {path}")
            for key in sorted(before[path].keys() | after[path].keys()):
                was, now = before[path].get(key), after[path].get(key)
                if was != now:
                    lines.append(f"    {key} was: {json.dumps(was)}")
                    lines.append(f"    {key} now: {json.dumps(now)}")
    return "\n".join(lines)


def _sort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: SCREAMING_CASE, then CamelCase, then the rest."""
    if len(name) > 1 and name.isupper():
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


def _bound_in_init(package: str) -> tuple[set[str], set[str]]:
    """Public names `package/__init__.py` imports from its own modules, and the names it assigns."""
    module = importlib.import_module(package)
    tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
    imported: set[str] = set()
    assigned: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            imported.update(a.asname or a.name for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            assigned.update(t.id for t in targets if isinstance(t, ast.Name))
    public = {name for name in imported if not name.startswith("_")}
    return public, assigned - {"__all__"}


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_and_complete(package: str) -> None:
    """`__all__` is sorted, lists every public name the package imports, and names nothing missing."""
    module = importlib.import_module(package)
    names = list(module.__all__)
    imported, assigned = _bound_in_init(package)
    assert names == sorted(names, key=_sort_key)
    assert len(names) == len(set(names))
    assert sorted(imported - set(names)) == [], "imported but not in __all__"
    assert sorted(set(names) - imported - assigned) == [], "in __all__ but not imported"
    assert [n for n in names if not hasattr(module, n)] == [], "in __all__ but missing"


@pytest.mark.parametrize("package", PACKAGES + MODULES)
def test_public_api_matches_snapshot(package: str) -> None:
    """Every exported name, kind, base and signature matches tests/public_api.json."""
    stored = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert sorted(stored) == sorted(PACKAGES + MODULES)
    current = snapshot()[package]
    if current != stored[package]:
        pytest.fail(
            f"the public API of {package} changed:\n"
            + _diff(stored[package], current, package)
            + "\nIf this is a documented public addition, run "
            "`python -m tests.test_public_api` and say so in CHANGELOG.md.",
            pytrace=False,
        )


if __name__ == "__main__":
    SNAPSHOT.write_text(
        json.dumps(snapshot(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    print(f"wrote {SNAPSHOT}")  # noqa: T201
