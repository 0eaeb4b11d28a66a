r"""Training-step speed: ours (the library's jitted step) against PyTorch and TensorFlow.

  python -m experiments.benchmark                           # dcgan at 256, mlp at 64
  python -m experiments.benchmark --cases=mlp --impls=jax,jax_scan,torch
  python -m experiments.benchmark --cases=sngan --torch_python=/tmp/torchenv/bin/python
  python -m experiments.benchmark --cases=dcgan --config.run.backend=plain
  python -m experiments.benchmark --cases=dcgan,mlp --impls=jax --baseline_dir=/tmp/gan_d253e45
  python -m experiments.benchmark --cases=dcgan,mlp --batch_sizes=32,64,128,256,512,1024 \
      --rounds=3 --repeats=5 --out=docs/benchmark_batch.jsonl
  python -m experiments.benchmark --plot=docs --out=docs/benchmark_batch.jsonl,docs/benchmark_width.jsonl

Prints one JSON object per case (a model at one batch size and width): for every
implementation, steps/s and images/s (median over all timed repeats, with
min-max spread, interquartile range and per-round medians), compile (first-step)
time, peak RSS, and achieved GFLOP/s = the step's FLOPs by XLA's cost analysis of
our step (the same arithmetic in every implementation) x steps/s; then `ratios`
ours / reference of the medians, and `ratios_per_round` (the median over rounds of
the ratio within a round, the fairer number on a busy machine).

Implementations (`--impls`; default per case, those not installed are skipped):
  jax            ours: `gan.build.build(config).compiled_step`, the exact jitted,
                 state-donating step of the training program, one step per call.
  jax_scan       ours, `--steps_per_dispatch` steps per call: the program's own block
                 (`--config.run.steps_per_call`), over a block of as many different
                 batches; a rolled `lax.scan` for the MLP, unrolled for the DCGAN
                 (XLA:CPU runs convolution gradients in a rolled loop 35-150x slower).
  jax@baseline   with `--baseline_dir=DIR` (a checkout of another commit, e.g. `git
                 worktree add /tmp/gan_old d253e45`): that commit's own `jax` worker,
                 timed in the same rounds, so a change is measured side by side.
  tf, tf_xla     experiments/references/tf_gan.py (`tf.function`, + jit_compile).
  torch, torch_compile  experiments/references/torch_gan.py (eager, `torch.compile`);
                 for the `sngan` case, `torch` is experiments/references/torch_sngan.py
                 (eager; the case has no other reference).
The references are an optional extra: `pip install -r tools/benchmark_requirements.txt`.
They need none of this project's other dependencies, so they may run in another Python:
`--torch_python=PATH` (or the environment variable GAN_TORCH_PYTHON; GAN_TF_PYTHON for
TensorFlow) names the interpreter of the torch workers; by default every worker runs
in this one.

How it is fair. Every implementation runs in a process of its own (a worker, see
`experiments.references`) that builds its step, compiles it and warms it up
(workers start one after another, so compilations do not overlap), then waits.
Timing goes in `--rounds` rounds; in each, every worker in turn (the order
rotates every round) times `--repeats` repeats of as many steps as last at least
`--min_repeat_seconds`, each ending once all dispatched work is done. Data loading
is excluded: every worker steps on float32 images in [-1, 1] it made once.

Our configs are the experiments' own (`experiments.dcgan_mnist_tutorial.get_config`,
`experiments.mlp_gan_mnist.get_config`, with Adam as the references have it;
`experiments.sngan_cifar10.get_config()`, the CPU config, as it is: SNGAN's ResNet at
64 channels on 32x32x3 images, hinge loss, DiffAugment, generator EMA, which
torch_sngan copies), with `--config.FIELD=VALUE` overrides
(e.g. `--config.run.backend=plain`) and `--batch_sizes` / `--width_scales`
(every layer width times the scale, at least 1). Our worker asserts that nothing
is recompiled and no array crosses between host and device during timing.
"""

import importlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Optional

from experiments import references as ref

OURS = ("jax", "jax_scan")
BASELINE = "jax@baseline"  # `--baseline_dir`'s commit, timed beside ours.
# Reference impl -> (module, its --impl, the Python package it needs).
REFERENCES = {
    "tf": ("experiments.references.tf_gan", "function", "tensorflow"),
    "tf_xla": ("experiments.references.tf_gan", "xla", "tensorflow"),
    "torch": ("experiments.references.torch_gan", "eager", "torch"),
    "torch_compile": ("experiments.references.torch_gan", "compile", "torch"),
}
# The references' Adam (the DCGAN paper's), set in our config before the overrides.
_REFERENCE_ADAM = {"g_lr": ref.LEARNING_RATE, "d_lr": ref.LEARNING_RATE,
                   "beta1": ref.BETA1, "beta2": ref.BETA2}
# Case -> the experiment module whose get_config() it uses, its default impls, the
# config.optim fields set before the overrides, and its references (default REFERENCES).
CASES = {
    # The TensorFlow tutorial's networks, as the references build them (and as
    # experiments.dcgan_mnist had them before docs/quality.md's study made it smaller).
    "dcgan": {"experiment": "experiments.dcgan_mnist_tutorial",
              "impls": ("jax", "tf", "torch", "torch_compile"), "optim": _REFERENCE_ADAM},
    "mlp": {"experiment": "experiments.mlp_gan_mnist",
            "impls": ("jax", "jax_scan", "tf", "torch", "torch_compile"),
            "optim": _REFERENCE_ADAM},
    # SNGAN's ResNet at the CPU config, whose own Adam torch_sngan copies.
    "sngan": {"experiment": "experiments.sngan_cifar10", "impls": ("jax", "torch"),
              "optim": {},
              "references": {"torch": ("experiments.references.torch_sngan", "eager",
                                       "torch")}},
}
# A reference's package -> the environment variable that may name its interpreter.
PYTHON_ENV = {"torch": "GAN_TORCH_PYTHON", "tensorflow": "GAN_TF_PYTHON"}
_SERVE_OURS = "--serve_ours"  # argv[1] of our worker process (see the bottom).
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


# ----------------------------------------------------------------------- our worker


def _our_config(model: str, batch_size: int, width_scale: float, overrides: list[str]):
  """The experiment's `get_config()`, with `--config.*` overrides, batch and widths."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  experiment = importlib.import_module(CASES[model]["experiment"])
  # A private FlagValues: parses the overrides without touching absl's global flags.
  flag_values = flags.FlagValues()
  base = experiment.get_config()
  for field, value in CASES[model]["optim"].items():  # Before the overrides.
    base.optim[field] = value
  config_flags.DEFINE_config_dict("config", base, flag_values=flag_values)
  flag_values(["benchmark", *overrides])
  config = flag_values.config
  if batch_size:
    config.batch_size = batch_size
  if width_scale != 1.0:
    for field in ("g_widths", "d_widths"):
      config.model[field] = tuple(max(1, round(w * width_scale)) for w in config.model[field])
  return config


def _one_step_config(config):
  """`config` with one step per call (the FLOP count is per step)."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  single = ml_collections.ConfigDict(config.to_dict())
  single.run.steps_per_call = 1
  return single


def _serve_ours(argv: list[str]) -> None:
  """Our worker: the library's real step, served by `experiments.references.serve`."""
  parser = ref.reference_arguments("our jitted train step", OURS, tuple(CASES))
  parser.add_argument("--steps_per_dispatch", type=int, default=10)
  args, overrides = parser.parse_known_args(argv)
  bad = [o for o in overrides if not o.startswith("--config.")]
  if bad:
    parser.error(f"unrecognised arguments: {bad}")

  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jax import monitoring  # pylint: disable=g-import-not-at-top
  from gan import build, data  # pylint: disable=g-import-not-at-top
  from gan import config as config_lib  # pylint: disable=g-import-not-at-top

  compiles = []
  monitoring.register_event_duration_secs_listener(
      lambda event, seconds, **kw: compiles.append(seconds) if event == _COMPILE_EVENT else None)

  config = _our_config(args.model, args.batch_size, args.width_scale, overrides)
  n = args.steps_per_dispatch if args.impl == "jax_scan" else 1
  if n > 1:  # The program's block of n updates; no run, so no periods to divide.
    config.run.steps_per_call, config.num_steps = n, n
    for period in config_lib.PERIODS:
      parent, name = period.split(".")
      config[parent][name] = 0
  image_shape = ref.image_shape(args.model)
  run = build.build(config, data.DataSpec("benchmark", image_shape))
  one_step = build.build(_one_step_config(config), run.spec)
  state = run.init_state()
  rng = np.random.default_rng(args.seed)
  images = rng.uniform(-1, 1, (n, config.optim.d_steps, config.batch_size) + image_shape)
  images = images.astype(np.float32)
  single_batch = run.shard({"image": images[0]})
  flops = one_step.compiled_step.lower(state, single_batch,
                                       run.step_keys).cost_analysis()["flops"]
  if args.impl == "jax":
    step_fn, batch = one_step.compiled_step, single_batch
  else:
    step_fn, batch = run.compiled_step, run.shard({"image": images}, block=True)
  del single_batch
  holder = {"state": state}
  keys = run.step_keys

  def step():
    holder["state"], _ = step_fn(holder["state"], batch, keys)

  timing_from = {}

  def sync():
    jax.block_until_ready(holder["state"])
    if "compiles" in timing_from and len(compiles) != timing_from["compiles"]:
      raise RuntimeError(f"the step was recompiled during timing "
                         f"({len(compiles) - timing_from['compiles']} compilations)")

  # Warm-up compiles; afterwards nothing may compile or cross host <-> device.
  step()
  sync()
  compile_s = sum(compiles)
  timing_from["compiles"] = len(compiles)
  info = {"impl": args.impl, "framework": f"jax {jax.__version__}", "steps_per_call": n,
          "compile_s": compile_s, "flops_per_step": flops, "flops_counter": "XLA cost analysis",
          "backend": jax.default_backend(), "devices": jax.device_count(),
          "backend_lowering": run.backend.name, "g_widths": list(config.model.g_widths),
          "d_widths": list(config.model.d_widths),
          "params": int(sum(x.size for x in jax.tree.leaves(
              (state.generator.params, state.discriminator.params))))}
  with jax.transfer_guard("disallow"):
    ref.run_worker(args, step, sync, info)


# ---------------------------------------------------------------------- orchestrator


class Worker:
  """One implementation's worker process, driven line by line."""

  def __init__(self, impl: str, command: list[str], root: Optional[str] = None):
    self.impl = impl
    self.stderr = tempfile.TemporaryFile(mode="w+")
    env = dict(os.environ)
    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=self.stderr, text=True, env=env, cwd=root)
    self.ready: Optional[dict] = None
    self.rounds: list[list[float]] = []
    self.steps_per_repeat = 0
    self.done: Optional[dict] = None
    self.error: Optional[str] = None

  def _read(self, event: str) -> dict:
    for line in self.process.stdout:
      line = line.strip()
      if line.startswith("{"):
        record = json.loads(line)
        if record.get("event") == event:
          return record
    self.process.wait()
    self.stderr.seek(0)
    tail = " | ".join(self.stderr.read().strip().splitlines()[-6:])
    raise RuntimeError(f"{self.impl} worker exited ({self.process.returncode}) before "
                       f"'{event}': {tail[-1500:]}")

  def wait_ready(self) -> None:
    self.ready = self._read("ready")

  def run_round(self, repeats: int) -> None:
    self.process.stdin.write(f"run {repeats}\n")
    self.process.stdin.flush()
    record = self._read("round")
    self.rounds.append(record["seconds"])
    self.steps_per_repeat = record["steps_per_repeat"]

  def finish(self) -> None:
    if self.process.poll() is None:
      try:
        self.process.stdin.write("quit\n")
        self.process.stdin.flush()
        self.done = self._read("done")
      except (RuntimeError, BrokenPipeError, OSError) as error:
        self.error = self.error or str(error)
      self.process.wait(timeout=120)
    self.stderr.close()


def reference_of(impl: str, case: str) -> Optional[tuple[str, str, str]]:
  """(module, its --impl, the package it needs) of reference `impl` in `case`, or None."""
  return CASES[case].get("references", REFERENCES).get(impl)


def reference_python(package: str, pythons: Optional[dict[str, str]] = None) -> str:
  """The interpreter of a reference needing `package`: `pythons[package]`, else the
  environment variable `PYTHON_ENV[package]` (e.g. GAN_TORCH_PYTHON), else this one."""
  return ((pythons or {}).get(package) or os.environ.get(PYTHON_ENV.get(package, ""), "")
          or sys.executable)


def _worker_command(impl: str, model: str, batch_size: int, width_scale: float, *,
                    min_repeat_seconds: float, threads: int, steps_per_dispatch: int,
                    overrides: list[str],
                    pythons: Optional[dict[str, str]] = None) -> list[str]:
  common = [f"--model={model}", f"--batch_size={batch_size}", f"--width_scale={width_scale}",
            f"--min_repeat_seconds={min_repeat_seconds}", "--serve"]
  if threads:
    common.append(f"--threads={threads}")
  if impl == BASELINE:  # The other commit's own worker, with its own config syntax.
    return [sys.executable, "-m", "experiments.benchmark", _SERVE_OURS, "--impl=jax",
            f"--steps_per_dispatch={steps_per_dispatch}", *common]
  if impl in OURS:
    return [sys.executable, "-m", "experiments.benchmark", _SERVE_OURS, f"--impl={impl}",
            f"--steps_per_dispatch={steps_per_dispatch}", *common, *overrides]
  module, variant, package = reference_of(impl, model)
  return [reference_python(package, pythons), "-m", module, f"--impl={variant}", *common]


def available(impl: str, case: str = "dcgan",
              pythons: Optional[dict[str, str]] = None) -> Optional[str]:
  """None when `impl` can run `case` here, else why not.

  A reference needs its package in its interpreter (`reference_python`); another
  interpreter is asked, without importing the package.
  """
  if impl in OURS or impl == BASELINE:
    return None
  if impl not in REFERENCES:
    return f"unknown implementation {impl!r}"
  reference = reference_of(impl, case)
  if reference is None:
    return f"no {impl} reference for the {case} case"
  package = reference[2]
  python = reference_python(package, pythons)
  if python == sys.executable:
    found = importlib.util.find_spec(package) is not None
  else:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({package!r}) is None)"
    try:
      found = subprocess.run([python, "-c", probe], capture_output=True,
                             timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired) as error:
      return f"cannot run {python} ({PYTHON_ENV.get(package, '')}): {error}"
  if not found:
    return (f"{package} is not installed in {python} (pip install -r "
            f"tools/benchmark_requirements.txt, or name a Python that has it in "
            f"{PYTHON_ENV.get(package, '')})")
  return None


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
  return a / b if a and b else None


def run_case(model: str, *, batch_size: int = 0, width_scale: float = 1.0,
             impls: Optional[list[str]] = None, rounds: int = 3, repeats: int = 5,
             min_repeat_seconds: float = 1.0, threads: int = 0, steps_per_dispatch: int = 10,
             overrides: Optional[list[str]] = None,
             baseline_dir: Optional[str] = None,
             pythons: Optional[dict[str, str]] = None) -> dict[str, Any]:
  """Times `impls` on one case in interleaved rounds; returns the case's JSON object.

  With `baseline_dir`, the `jax` worker of that checkout is timed too, as `jax@baseline`.
  `pythons` maps a reference's package ("torch", "tensorflow") to the interpreter
  that runs it (`reference_python`).
  """
  batch_size = batch_size or ref.default_batch_size(model)
  impls = list(impls or CASES[model]["impls"]) + ([BASELINE] if baseline_dir else [])
  overrides = list(overrides or [])
  result: dict[str, Any] = {
      "case": model, "batch_size": batch_size, "width_scale": width_scale,
      "rounds": rounds, "repeats": repeats, "min_repeat_seconds": min_repeat_seconds,
      "config_overrides": overrides, "cpu_count": os.cpu_count(),
      "load_average_before": list(os.getloadavg()), "impls": {}}
  workers = []
  for impl in impls:
    why_not = available(impl, model, pythons)
    if why_not:
      result["impls"][impl] = {"skipped": why_not}
      continue
    worker = Worker(impl, _worker_command(
        impl, model, batch_size, width_scale, min_repeat_seconds=min_repeat_seconds,
        threads=threads, steps_per_dispatch=steps_per_dispatch, overrides=overrides,
        pythons=pythons), root=baseline_dir if impl == BASELINE else None)
    try:  # One at a time, so that compilations do not compete.
      worker.wait_ready()
      workers.append(worker)
    except RuntimeError as error:
      worker.error = str(error)
      worker.finish()
      result["impls"][impl] = {"error": worker.error}
  try:
    for r in range(rounds):
      shift = r % max(1, len(workers))  # Rotate the order: nobody always goes first.
      for worker in workers[shift:] + workers[:shift]:
        if worker.error is None:
          try:
            worker.run_round(repeats)
          except RuntimeError as error:
            worker.error = str(error)
  finally:
    for worker in workers:
      worker.finish()
  result["load_average_after"] = list(os.getloadavg())

  flops = None
  for worker in workers:
    if worker.ready.get("flops_counter") == "XLA cost analysis":
      flops = worker.ready["flops_per_step"]
  result["flops_per_step_xla"] = flops
  for worker in workers:
    entry = {k: v for k, v in worker.ready.items() if k != "event"}
    if worker.error:
      entry["error"] = worker.error
    if worker.rounds:
      entry.update(ref.summarize(worker.rounds, worker.steps_per_repeat,
                                 worker.ready["images_per_step"]))
      entry["steps_per_repeat"] = worker.steps_per_repeat
      if flops:
        entry["gflop_per_s_xla_count"] = flops * entry["steps_per_s"] / 1e9
    entry.setdefault("compile_s", entry.get("first_step_s"))
    if worker.done:
      entry["peak_rss_mb"] = worker.done["peak_rss_mb"]
    result["impls"][worker.impl] = entry

  ratios, per_round = {}, {}
  timed = {w.impl: w for w in workers if w.rounds}
  for ours in (i for i in OURS if i in timed):
    for other in (i for i in timed if i not in OURS):
      key = f"{ours}/{other}"
      ratios[key] = _ratio(result["impls"][ours]["steps_per_s"],
                           result["impls"][other]["steps_per_s"])
      pairs = zip(result["impls"][ours]["steps_per_s_per_round"],
                  result["impls"][other]["steps_per_s_per_round"])
      per_round[key] = statistics.median(a / b for a, b in pairs)
  result["ratios"], result["ratios_per_round"] = ratios, per_round
  return result


# ---------------------------------------------------------------------------- plots


def plot(records: list[dict], directory: str) -> list[str]:
  """Scaling curves from benchmark records; returns the PNG paths written.

  benchmark_batch_steps.png: steps/s against batch size (width scale 1);
  benchmark_width_steps.png: steps/s against width scale (the case's own batch);
  benchmark_batch_memory.png: peak RSS against batch size (width scale 1).
  One panel per case (titled with the load average the records saw), one line
  per implementation, log-log axes.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  os.makedirs(directory, exist_ok=True)
  cases = sorted({r["case"] for r in records})
  figures = [
      ("benchmark_batch_steps.png", "batch size", "steps/s",
       lambda r: r["width_scale"] == 1.0, lambda r: r["batch_size"], "steps_per_s"),
      ("benchmark_width_steps.png", "width scale (x every layer's width)", "steps/s",
       lambda r: r["batch_size"] == ref.default_batch_size(r["case"]),
       lambda r: r["width_scale"], "steps_per_s"),
      ("benchmark_batch_memory.png", "batch size", "peak RSS (MiB)",
       lambda r: r["width_scale"] == 1.0, lambda r: r["batch_size"], "peak_rss_mb"),
  ]
  written = []
  for name, xlabel, ylabel, keep, xvalue, field in figures:
    fig, axes = plt.subplots(1, len(cases), figsize=(5.5 * len(cases), 4.2), squeeze=False)
    drew = False
    for ax, case in zip(axes[0], cases):
      rows = [r for r in records if r["case"] == case and keep(r)]
      if len({xvalue(r) for r in rows}) < 2:
        ax.set_visible(False)
        continue
      impls = sorted({i for r in rows for i, e in r["impls"].items() if field in e})
      for impl in impls:
        points = sorted((xvalue(r), r["impls"][impl][field]) for r in rows
                        if field in r["impls"].get(impl, {}))
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=impl)
        drew = True
      ax.set_xscale("log", base=2)
      ax.set_yscale("log")
      loads = [r["load_average_before"][0] for r in rows if "load_average_before" in r]
      # The machine's load while timing: curves taken under load are only indicative.
      ax.set_title(f"{case} (load average {min(loads):.1f}-{max(loads):.1f})" if loads else case)
      ax.set_xlabel(xlabel)
      ax.set_ylabel(ylabel)
      ax.grid(True, which="both", alpha=0.3)
      ax.legend(fontsize=8)
    if drew:
      fig.tight_layout()
      path = os.path.join(directory, name)
      fig.savefig(path, dpi=110)
      written.append(path)
    plt.close(fig)
  return written


# ------------------------------------------------------------------------------ main


def _define_flags():
  """The command line (defined only in the orchestrator, never in a worker)."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  from gan import config as config_lib  # pylint: disable=g-import-not-at-top
  flags.DEFINE_list("cases", ["dcgan", "mlp"], f"Cases to time, of {sorted(CASES)}.")
  flags.DEFINE_list("impls", [], "Implementations, of "
                    f"{list(OURS) + sorted(REFERENCES)}; empty: each case's default.")
  flags.DEFINE_integer("rounds", 3, "Interleaved timing rounds.")
  flags.DEFINE_integer("repeats", 5, "Timed repeats per implementation per round.")
  flags.DEFINE_float("min_repeat_seconds", 1.0, "Least wall time of one timed repeat.")
  flags.DEFINE_list("batch_sizes", [], "Batch sizes to sweep; empty: each case's own.")
  flags.DEFINE_list("width_scales", ["1"], "Width multipliers to sweep.")
  flags.DEFINE_integer("steps_per_dispatch", 10, "Steps per call of jax_scan.")
  flags.DEFINE_integer("threads", 0, "Threads for the references; 0: their default.")
  flags.DEFINE_string("out", "", "Append each case's JSON line to this file; with --plot, "
                      "comma-separated files to read.")
  flags.DEFINE_string("plot", "", "Only draw the scaling curves from --out into this folder.")
  flags.DEFINE_string("torch_python", "", "The Python that runs the torch references (one "
                      "with torch installed); empty: $GAN_TORCH_PYTHON, else this one.")
  flags.DEFINE_string("baseline_dir", "", "A checkout of another commit whose own `jax` step "
                      "is timed beside ours (as jax@baseline), e.g. the pre-redesign commit.")
  # Parsed here for validation and --help; passed on verbatim to our worker.
  config_flags.DEFINE_config_dict("config", config_lib.base_config(),
                                  "Overrides of the experiments' configs, e.g. "
                                  "--config.run.backend=plain.")


def main(argv):
  from absl import flags  # pylint: disable=g-import-not-at-top
  from gan.errors import UserError  # pylint: disable=g-import-not-at-top
  del argv
  f = flags.FLAGS
  if f.plot:
    if not f.out:
      raise UserError("--plot needs --out=FILE[,FILE] holding benchmark JSON lines")
    records = []
    for path in f.out.split(","):
      if not os.path.isfile(path):
        raise UserError(f"--out={path!r} does not exist; run the benchmark with --out first")
      with open(path, encoding="utf-8") as file:
        records += [json.loads(line) for line in file if line.strip()]
    for path in plot(records, f.plot):
      print(path)
    return
  for case in f.cases:
    if case not in CASES:
      raise UserError(f"unknown case {case!r}; choose from {sorted(CASES)} (--cases=...)")
  for impl in f.impls:
    if impl not in OURS and impl not in REFERENCES:
      raise UserError(f"unknown implementation {impl!r}; choose from "
                      f"{list(OURS) + sorted(REFERENCES)} (--impls=...)")
  if f.rounds < 1 or f.repeats < 1:
    raise UserError("--rounds and --repeats must be >= 1")
  if f.steps_per_dispatch < 2:
    raise UserError(f"--steps_per_dispatch={f.steps_per_dispatch} must be >= 2 (jax is one "
                    f"step per call)")
  try:
    batch_sizes = [int(b) for b in f.batch_sizes] or [0]
    width_scales = [float(w) for w in f.width_scales]
  except ValueError as error:
    raise UserError(f"--batch_sizes / --width_scales must be numbers: {error}") from error
  overrides = [a for a in sys.argv[1:] if a.startswith("--config.")]
  if f.baseline_dir and not os.path.isfile(os.path.join(f.baseline_dir, "experiments",
                                                       "benchmark.py")):
    raise UserError(f"--baseline_dir={f.baseline_dir!r} is not a checkout of this project; "
                    f"make one with git worktree add DIR COMMIT")
  for case in f.cases:
    for batch_size in batch_sizes:
      for width_scale in width_scales:
        start = time.perf_counter()
        result = run_case(case, batch_size=batch_size, width_scale=width_scale,
                          impls=f.impls or None, rounds=f.rounds, repeats=f.repeats,
                          min_repeat_seconds=f.min_repeat_seconds, threads=f.threads,
                          steps_per_dispatch=f.steps_per_dispatch, overrides=overrides,
                          baseline_dir=f.baseline_dir or None,
                          pythons={"torch": f.torch_python} if f.torch_python else None)
        result["wall_s"] = time.perf_counter() - start
        line = json.dumps(result)
        print(line, flush=True)
        if f.out:
          os.makedirs(os.path.dirname(os.path.abspath(f.out)), exist_ok=True)
          with open(f.out, "a", encoding="utf-8") as file:
            file.write(line + "\n")


if __name__ == "__main__":
  if sys.argv[1:2] == [_SERVE_OURS]:
    _serve_ours(sys.argv[2:])
  else:
    from gan.cli import run_cli  # pylint: disable=g-import-not-at-top
    _define_flags()
    run_cli(main)
