"""The layout: data flows one way (no import circle among the project's modules), and the backbones
are a library of their own (minrnn imports with torch alone)."""
import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SKIPPED_DIRS = {"runs", "results", "build", "__pycache__"}


def project_modules() -> dict[str, Path]:
    """Dotted name -> file of every Python module in the checkout (a package by its __init__.py)."""
    modules = {}
    for path in REPO.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        if any(part.startswith(".") or part in SKIPPED_DIRS for part in parts[:-1]):
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that `path` imports anywhere in it (inside functions too): for
    `from a.b import c`, the module a.b.c if there is one, else a.b."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                      for alias in node.names}
    return found & modules.keys()


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` as [a, b, ..., a], or None (depth-first search)."""
    state, stack = {}, []  # state: 1 on the current path, 2 done

    def visit(node):
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_circle_among_the_projects_modules():
    modules = project_modules()
    assert {"minrnn", "agents.policy", "envs.load", "suite.runutils", "train"} <= modules.keys()
    graph = {name: imports_of(path, modules) - {name} for name, path in modules.items()}
    assert graph["envs.load"] >= {"envs.dataset", "envs.generate"}  # the check sees imports inside functions
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_minrnn_imports_and_runs_with_torch_alone():
    """No gymnasium, no mujoco, nothing of the suite's other parts: a finder refuses them."""
    code = f"""
import sys
REFUSED = {{"gymnasium", "mujoco", "minari", "stable_baselines3", "h5py", "tensorboard", "ray", "matplotlib",
           "moviepy", "tqdm", "envs", "agents", "suite"}}

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in REFUSED:
            raise ImportError(f"minrnn imported {{name}}")

sys.meta_path.insert(0, Refuse())
sys.path.insert(0, {str(REPO)!r})
import torch
import minrnn
y, state = minrnn.build_backbone("mingru", d_model=8, n_layers=1)(torch.zeros(1, 5, 8))
assert y.shape == (1, 5, 8)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


COMMANDS = {"train", "evaluate", "sweep", "aggregate"}


def test_no_package_imports_a_command():
    """The commands are thin over the packages; a package, a benchmark or a test helper that imported one
    would make a command a library again."""
    modules = project_modules()
    assert COMMANDS <= modules.keys()
    importers = {name: imports_of(path, modules) & COMMANDS for name, path in modules.items()
                 if name not in COMMANDS and not name.startswith("tests.")}
    # benchmarks/training.py times the code of an older commit too, in that commit's checkout, where
    # training lived in train.py: its import of train is of that checkout, never of this one's
    assert {name: found for name, found in importers.items() if found} == {"benchmarks.training": {"train"}}
