"""The shape of the package: imports flow one way (no circles) and `import gan` changes nothing.

The import graph counts every import statement of every module under gan/, at module
level and inside functions alike: a lazy import is still a dependency, and a circle
through one is the kind that `train -> hooks -> evaluate -> train` was.
"""

import ast
import os
import subprocess
import sys

import conftest

GAN = os.path.join(conftest.ROOT, "gan")


def _module_name(path: str) -> str:
  relative = os.path.relpath(path, conftest.ROOT)[:-len(".py")].split(os.sep)
  return ".".join(relative[:-1] if relative[-1] == "__init__" else relative)


def _modules() -> dict[str, str]:
  found = {}
  for directory, _, files in os.walk(GAN):
    for name in files:
      if name.endswith(".py"):
        path = os.path.join(directory, name)
        found[_module_name(path)] = path
  return found


def import_graph() -> dict[str, set[str]]:
  """{module: the gan modules it imports}, from every import statement in its source."""
  modules = _modules()
  graph = {}
  for module, path in modules.items():
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    edges = set()
    with open(path, encoding="utf-8") as f:
      tree = ast.parse(f.read())
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
          base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] +
                          ([base] if base else []))
        # `from gan.data import datasets` imports the submodule gan.data.datasets.
        targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                   for a in node.names]
      else:
        continue
      for target in targets:
        while target and target not in modules:
          target = target.rpartition(".")[0]
        if target and target != module:
          edges.add(target)
    graph[module] = edges
  return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
  """Every elementary circle found by depth-first search (one per back edge)."""
  cycles, state, stack = [], {}, []

  def visit(node):
    state[node] = "open"
    stack.append(node)
    for child in sorted(graph.get(node, ())):
      # A package's __init__ re-exporting its submodules is not a circle of the design.
      if child == node.rpartition(".")[0] and node.startswith(child + "."):
        continue
      if state.get(child) == "open":
        cycles.append(stack[stack.index(child):] + [child])
      elif child not in state:
        visit(child)
    stack.pop()
    state[node] = "done"

  for node in sorted(graph):
    if node not in state:
      visit(node)
  return cycles


def test_the_import_graph_finds_real_edges():
  graph = import_graph()
  assert "gan.build" in graph["gan.program"]
  assert "gan.program" in graph["gan.eval.features"]  # A lazy import, inside a function.
  assert "gan.data.datasets" in graph["gan.data.batches"]
  # The detector itself sees a circle where there is one.
  assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_the_package_has_no_import_circles():
  assert _cycles(import_graph()) == []


def test_the_program_knows_nothing_of_evaluation_or_the_command_line():
  graph = import_graph()

  def reachable(start):
    seen, todo = set(), [start]
    while todo:
      for child in graph[todo.pop()]:
        if child not in seen:
          seen.add(child)
          todo.append(child)
    return seen

  below_program = reachable("gan.program")
  assert not {m for m in below_program if m.startswith(("gan.eval", "gan.cli"))}
  for module in graph:  # The library never imports the command line.
    if not module.startswith("gan.cli"):
      assert not {m for m in graph[module] if m.startswith("gan.cli")}, module
  assert not {m for m in reachable("gan.models") if m.startswith("gan.backends")}


def test_models_hold_no_hardware_paths():
  for name in os.listdir(os.path.join(GAN, "models")):
    if name.endswith(".py"):
      with open(os.path.join(GAN, "models", name), encoding="utf-8") as f:
        source = f.read()
      for word in ("conv_impl", "lax.cond", "conv_general_dilated", "compiler_options",
                   "default_backend", "threefry"):
        assert word not in source, (name, word)


def test_importing_every_module_changes_no_global_jax_state():
  script = """
import importlib, os, sys
import jax
from jax._src.interpreters import mlir
from jax.extend import random as jex_random
before_lowerings = {p: dict(v) for p, v in mlir._platform_specific_lowerings.items()}
before_config = {k: getattr(jax.config, k) for k in ("jax_enable_x64", "jax_default_matmul_precision", "jax_platforms")}
before_flags = os.environ.get("XLA_FLAGS")
root = sys.argv[1]
for directory, _, files in os.walk(os.path.join(root, "gan")):
  for name in sorted(files):
    if name.endswith(".py") and not (directory.endswith("cli") and name != "__init__.py"):
      relative = os.path.relpath(os.path.join(directory, name), root)[:-3].replace(os.sep, ".")
      importlib.import_module(relative.removesuffix(".__init__"))
after = {p: dict(v) for p, v in mlir._platform_specific_lowerings.items()}
assert after == before_lowerings, "an import registered a lowering"
assert {k: getattr(jax.config, k) for k in before_config} == before_config
assert os.environ.get("XLA_FLAGS") == before_flags
print("unchanged", len(sys.modules))
"""
  result = subprocess.run([sys.executable, "-c", script, conftest.ROOT], capture_output=True,
                          text=True, cwd=conftest.ROOT, timeout=120,
                          env={**os.environ, "PYTHONPATH": conftest.ROOT})
  assert result.returncode == 0, result.stderr[-2000:]
  assert "unchanged" in result.stdout
