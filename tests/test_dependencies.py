"""dvc.yaml against the source, by AST (nothing is run): each stage depends on everything its
script imports from the project, transitively, and on nothing else; every dep names something;
the stage writes where dvc.yaml says; the import graph is acyclic and the library never imports
a stage script."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from conftest import REPO

SRC = REPO / "src"
STAGES = REPO / "stages"
# "clearspeech.x.y" or "clearspeech.x.y:Name" in a string: a module loaded by importlib or `python -m`.
MODULE_STRING = re.compile(r"(clearspeech(?:\.\w+)+)(?::\w+)?")
# Cycles another change is removing; each must still exist (the test says when to drop it).
KNOWN_CYCLES: set[frozenset[str]] = set()


def module_file(name: str) -> Path | None:
    """The file of module ``name`` under src/ (a package's ``__init__.py``), if it is one."""
    base = SRC / name.replace(".", "/")
    return next((path for path in (base.with_suffix(".py"), base / "__init__.py") if path.is_file()), None)


def _package(path: Path) -> list[str]:
    """The package a relative import in ``path`` starts from (``__init__.py``: its own)."""
    return list(path.relative_to(SRC).parts[:-1])


def _imported_names(path: Path, strings: bool = True) -> tuple[set[str], set[Path]]:
    """Dotted names ``path`` imports (every statement, function-level too; with ``strings`` the
    modules it loads by name at run time), and the stage helpers it imports by bare name
    (``from common import ...`` in stages/)."""
    names, helpers = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            names.update(modules)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level and SRC in path.parents:  # relative: against the importing module's package
                package = _package(path)
                module = ".".join(package[: len(package) - node.level + 1] + ([module] if module else []))
            modules = [module]
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # `y` may be a submodule
        elif strings and isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = MODULE_STRING.fullmatch(node.value)
            names.update([match.group(1)] if match else [])
            continue
        else:
            continue
        if path.parent == STAGES:
            helpers.update(STAGES / f"{m}.py" for m in modules if m and (STAGES / f"{m}.py").is_file())
    return names, helpers


@cache
def imported_files(path: Path, strings: bool = True) -> frozenset[Path]:
    """Project files that ``path`` loads directly, packages' ``__init__`` included (with
    ``strings``, also those it loads by name at run time: not import cycles, but deps)."""
    names, files = _imported_names(path, strings)
    for name in names:
        if name.split(".")[0] == "clearspeech":
            parts = name.split(".")
            files.update(f for f in (module_file(".".join(parts[:i])) for i in range(1, len(parts) + 1)) if f)
    files.discard(path)
    return frozenset(files)


def closure(script: Path) -> set[Path]:
    seen, todo = set(), [script]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(imported_files(path))
    return seen


def _resolve(value, context: dict):
    """dvc.yaml's ``${a.b}`` interpolation from its ``vars`` and params.yaml."""
    def lookup(match: re.Match) -> str:
        node = context
        for key in _resolve(match.group(1), context).split("."):
            node = node[key]
        return str(node)
    if isinstance(value, str):
        while "${" in value:
            value = re.sub(r"\$\{([^${}]+)\}", lookup, value)
        return value
    if isinstance(value, dict):
        return {_resolve(key, context): _resolve(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, context) for item in value]
    return value


@cache
def stages() -> dict[str, dict]:
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    context = yaml.safe_load((REPO / "params.yaml").read_text())
    for entry in pipeline.get("vars", []):
        context.update(entry)
    return _resolve(pipeline["stages"], context)


def _paths(entries: list) -> list[str]:
    """Paths of a deps / outs / metrics / plots list (an entry is a path or ``{path: options}``)."""
    return [entry if isinstance(entry, str) else next(iter(entry)) for entry in entries or []]


def outs(stage: dict) -> list[str]:
    return [path for key in ("outs", "metrics", "plots") for path in _paths(stage.get(key))]


def script(stage: dict) -> Path:
    return REPO / next(word for word in stage["cmd"].split() if word.endswith(".py"))


def covered(path: Path, deps: list[str]) -> bool:
    return any(path == REPO / dep or (REPO / dep) in path.parents for dep in deps)


def code_files(dep: str) -> set[Path]:
    path = REPO / dep
    if path.is_dir():
        return {f for f in path.rglob("*.py") if "__pycache__" not in f.parts}
    return {path} if path.suffix == ".py" else set()


STAGE_NAMES = sorted(stages())


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_stage_depends_on_everything_it_imports(name):
    stage = stages()[name]
    missing = sorted(str(p.relative_to(REPO)) for p in closure(script(stage)) if not covered(p, _paths(stage["deps"])))
    assert not missing, f"stage {name}: imports files its dvc.yaml deps miss: {missing}"


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_stage_depends_on_no_code_it_does_not_import(name):
    stage = stages()[name]
    imported = closure(script(stage))
    unused = sorted(str(f.relative_to(REPO)) for dep in _paths(stage["deps"]) for f in code_files(dep) - imported)
    assert not unused, f"stage {name}: deps on code it never imports (reruns for nothing): {unused}"


def test_every_dep_names_a_file_or_an_out():
    produced = {path for stage in stages().values() for path in outs(stage)}
    dangling = [f"{name}: {dep}" for name, stage in stages().items() for dep in _paths(stage["deps"])
                if not (REPO / dep).exists() and dep not in produced]
    assert not dangling, f"deps that name nothing in the repository and no stage's out: {dangling}"


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_cmd_passes_every_data_path(name):
    """The stage writes its outs, and reads its data, where dvc.yaml says: each is on its cmd."""
    stage = stages()[name]
    data = [dep for dep in _paths(stage["deps"]) if dep.split("/")[0] not in ("src", "stages")]
    words = stage["cmd"].split()
    absent = [path for path in outs(stage) + data
              if not any(word == path or word.startswith(path + "/") for word in words)]
    assert not absent, f"stage {name}: paths not passed on its cmd: {absent}"


def test_stage_scripts_default_no_paths():
    """Every option of a stage script but --params is required: dvc.yaml is the one place of paths."""
    defaults = []
    for path in sorted(STAGES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "option"
                    and node.args and node.args[0].value != "--params"):
                keywords = {k.arg: k.value for k in node.keywords}
                if "default" in keywords or getattr(keywords.get("required"), "value", False) is not True:
                    defaults.append(f"{path.name} {node.args[0].value}")
    assert not defaults, f"stage options with a default instead of a path from dvc.yaml: {defaults}"


def _library_graph() -> dict[str, set[str]]:
    files = [f for f in SRC.rglob("*.py") if "__pycache__" not in f.parts]
    return {str(f.relative_to(SRC)): {str(g.relative_to(SRC)) for g in imported_files(f, strings=False)
                                      if SRC in g.parents} for f in files}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_import_graph_is_acyclic():
    cycles = {frozenset(cycle) for cycle in _cycles(_library_graph())}
    assert not cycles - KNOWN_CYCLES, f"import cycles: {[sorted(c) for c in cycles - KNOWN_CYCLES]}"
    gone = KNOWN_CYCLES - cycles
    assert not gone, f"these cycles are gone: delete them from KNOWN_CYCLES: {[sorted(c) for c in gone]}"


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_library_module_imports_a_stage_script():
    stage_modules = {"stages"} | {path.stem for path in STAGES.glob("*.py")}
    offenders = sorted(
        f"{f.relative_to(SRC)} imports {name}" for f in SRC.rglob("*.py") if "__pycache__" not in f.parts
        for name in _imported_names(f)[0] if name.split(".")[0] in stage_modules)
    assert not offenders, f"the library imports stage scripts: {offenders}"


def test_closure_follows_submodules_strings_and_function_level_imports(tmp_path):
    closed = closure(SRC / "clearspeech" / "peers" / "compare.py")
    # `from clearspeech.evaluation import logmmse`: a submodule named in the import list.
    assert SRC / "clearspeech" / "evaluation" / "logmmse.py" in closed
    # PEERS' "module:Class" strings (importlib) and runner's `python -m clearspeech.peers.worker`.
    assert {SRC / "clearspeech" / "peers" / f for f in ("neural.py", "classic.py", "worker.py")} <= closed
    assert SRC / "clearspeech" / "__init__.py" in closed
    # The SEGAN trainer is imported inside train(), only when the architecture needs it.
    assert SRC / "clearspeech" / "training" / "adversarial.py" in closure(SRC / "clearspeech" / "training" /
                                                                           "trainer.py")
    assert STAGES / "common.py" in closure(STAGES / "split.py")
