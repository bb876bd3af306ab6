"""The rules of docs/architecture.md, checked on the source so a new import cannot break them.

- edge and central never import each other; what they share is the broker contract, the
  broker client and the root foundations (errors, settings, backoff, GS1 rules, ports,
  private files, the logging setup);
- the contract imports nothing of the parts that use it;
- in central, only ``central.store`` defines tables or writes DDL;
- no import cycles between modules (imports made at module level);
- every sub-package says in its docstring what flows in and out, and modules stay small.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PARTS = {"linetrace.edge": "edge", "linetrace.broker": "broker", "linetrace.central": "central"}
FOUNDATIONS = (
    "linetrace.broker.contract",
    "linetrace.broker.client",
    "linetrace.errors",
    "linetrace.settings",
    "linetrace.backoff",
    "linetrace.gs1",
    "linetrace.ports",
    "linetrace.private",
    "linetrace.logs",
    "linetrace.progress",
)
# A module past this many lines holds more than one job; split it (docs/architecture.md).
MAX_MODULE_LINES = 450
_DDL = re.compile(r"\b(CREATE|ALTER|DROP)\s+(TABLE|INDEX|VIEW|SEQUENCE)\b", re.IGNORECASE)


def _modules() -> Iterator[tuple[str, Path]]:
    """(dotted name, file) of every module of the distribution."""
    folders = {"linetrace": ROOT / "linetrace"} | {n: ROOT / f for n, f in PARTS.items()}
    for package, folder in folders.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join((package, *parts)), path


MODULES = dict(_modules())


def _imports(path: Path, *, module_level_only: bool = False) -> set[str]:
    """Absolute names of the linetrace modules ``path`` imports (``from pkg import sub``
    counts as importing ``pkg.sub``, not ``pkg``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                names.add(submodule if submodule in MODULES else node.module)
    return {name for name in names if name.startswith("linetrace")}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize(
    ("part", "forbidden"),
    [
        ("linetrace.edge", "linetrace.central"),
        ("linetrace.central", "linetrace.edge"),
    ],
)
def test_edge_and_central_share_only_the_contract_and_foundations(
    part: str, forbidden: str
) -> None:
    broken = []
    for name, path in MODULES.items():
        if not _within(name, part):
            continue
        for imported in _imports(path):
            allowed = (
                _within(imported, part)
                or any(_within(imported, f) for f in FOUNDATIONS)
                or imported == "linetrace"  # the version string
            )
            if _within(imported, forbidden) or not allowed:
                broken.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert not broken, "\n".join(broken)


def test_the_contract_stands_alone() -> None:
    broken = [
        f"{path.relative_to(ROOT)} imports {imported}"
        for name, path in MODULES.items()
        if _within(name, "linetrace.broker.contract")
        for imported in _imports(path)
        if not (
            _within(imported, "linetrace.broker.contract") or _within(imported, "linetrace.errors")
        )
    ]
    assert not broken, "\n".join(broken)


def test_only_the_store_defines_tables_or_writes_ddl() -> None:
    """In central; the edge's outbox is a private SQLite file of its own and keeps its DDL."""
    offenders = []
    for name, path in MODULES.items():
        if not _within(name, "linetrace.central") or _within(name, "linetrace.central.store"):
            continue
        text = path.read_text()
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _call_name(node) in {
                "Table",
                "create_table",
                "create_all",
            }:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {_call_name(node)}")
        if _DDL.search(text):
            offenders.append(f"{path.relative_to(ROOT)}: SQL DDL text")
    assert not offenders, "\n".join(offenders)


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def test_no_import_cycles() -> None:
    graph = {
        name: {
            target
            for target in _imports(path, module_level_only=True)
            if target in MODULES and target != name
        }
        for name, path in MODULES.items()
    }
    cycles = _cycles(graph)
    assert not cycles, "\n".join(" -> ".join(cycle) for cycle in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_sub_package_says_what_flows_through_it() -> None:
    silent = [
        str(path.relative_to(ROOT))
        for name, path in MODULES.items()
        if path.name == "__init__.py"
        and "migrations" not in path.parts
        and not ast.get_docstring(ast.parse(path.read_text()))
    ]
    assert not silent, "sub-packages without a docstring: " + ", ".join(silent)


def test_modules_stay_small() -> None:
    large = [
        f"{path.relative_to(ROOT)}: {count} lines"
        for path in MODULES.values()
        if (count := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not large, "\n".join(large)
