"""The speed benchmark: its command end to end, the references' work, and the multi-step.

The `jax_scan` implementation times the program's own block of steps
(`config.run.steps_per_call`, `gan.build.repeat_step`), checked here against as
many single steps. On XLA:CPU (JAX 0.10.2) they agree to float rounding, not bit
for bit: XLA fuses the combined program differently (an unrolled block differed
from separate calls by at most 1.5e-8 in the state of the tiny MLP and a tiny
DCGAN; a rolled scan was bit-exact for the MLP and within 5.4e-7 for the DCGAN).
Hence the tolerance below.
"""

import json
import math
import sys

import chex
import flax
import jax
import numpy as np
import pytest

import conftest
from conftest import run_module
from experiments import benchmark
from experiments import references as ref
from gan import build, data

IMAGE_SHAPE = (28, 28, 1)
SPEC = data.DataSpec("benchmark", IMAGE_SHAPE)  # As the benchmark's worker builds its run.


def _mlp_matmul_flops(batch, g_widths, d_widths, pixels=784, noise_dim=100):
  """FLOPs of the matmuls of one step of the MLP GAN, counted by hand.

  With G_l, D_l = 2B * fan_in * fan_out of layer l, one step is
    D update: G forward (no gradient), D forward on real and on fake, and for each
      the weight gradients of every layer and input gradients of all but the
      first: 3 sum(D) + (D_2 + ... ) per call, twice;
    G update: G forward, D forward, D input gradients of every layer (D's
      weights are constants there), G weight gradients of every layer and input
      gradients of all but the first,
  in all 3 sum(G) + sum(G_2..) + 6 sum(D) + 2 sum(D_2..).
  """
  def layers(dims):
    return [2 * batch * a * b for a, b in zip(dims[:-1], dims[1:])]
  g = layers([noise_dim, *g_widths, pixels])
  d = layers([pixels, *d_widths, 1])
  return 3 * sum(g) + sum(g[1:]) + 6 * sum(d) + 2 * sum(d[1:])


def _dot_general_flops(jaxpr) -> int:
  """2 * output size * contracted size, summed over every dot_general, nested ones too."""
  total = 0
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "dot_general":
      (lhs_contracting, _), _ = eqn.params["dimension_numbers"]
      lhs_shape = eqn.invars[0].aval.shape
      total += 2 * math.prod(eqn.outvars[0].aval.shape) * math.prod(
          lhs_shape[d] for d in lhs_contracting)
    for value in eqn.params.values():
      for sub in value if isinstance(value, (tuple, list)) else (value,):
        if isinstance(sub, jax.extend.core.ClosedJaxpr):
          total += _dot_general_flops(sub.jaxpr)
        elif isinstance(sub, jax.extend.core.Jaxpr):
          total += _dot_general_flops(sub)
  return total


def test_hand_count_of_the_full_mlp_step():
  # B = 64, G 100-128-128-784, D 784-128-128-1: the count torch's FlopCounterMode gives.
  assert _mlp_matmul_flops(64, (128, 128), (128, 128)) == 158_662_656


def test_our_step_does_exactly_the_hand_counted_matmuls():
  config = benchmark._our_config("mlp", 16, 0.25, [])  # pylint: disable=protected-access
  assert config.model.g_widths == (32, 32) and config.batch_size == 16
  run = build.build(config, SPEC)
  state = jax.eval_shape(run.init, run.keys["init"])
  batch = {"image": jax.ShapeDtypeStruct((1, 16) + IMAGE_SHAPE, np.float32)}
  # The exact program the benchmark times (guarded, lowered for the platform).
  jaxpr = run.compiled_step.trace(state, batch, run.step_keys).jaxpr.jaxpr
  assert _dot_general_flops(jaxpr) == _mlp_matmul_flops(16, (32, 32), (32, 32))
  # The pure step of the task does the same matmuls.
  pure = jax.make_jaxpr(run.task.step)(state, batch, run.step_keys["train"]).jaxpr
  assert _dot_general_flops(pure) == _mlp_matmul_flops(16, (32, 32), (32, 32))


def test_torch_reference_does_the_same_matmuls_and_has_our_parameter_count():
  pytest.importorskip("torch")
  from experiments.references import torch_gan  # pylint: disable=g-import-not-at-top
  assert torch_gan.count_flops("mlp", 0.25, 16) == _mlp_matmul_flops(16, (32, 32), (32, 32))
  for model, ours in (("mlp", 247_697), ("dcgan", 2_518_338)):
    generator, discriminator = torch_gan.build_models(model)
    assert sum(p.numel() for m in (generator, discriminator) for p in m.parameters()) == ours


def test_torch_reference_init_has_flax_lecun_normal_scale():
  torch = pytest.importorskip("torch")
  from experiments.references import torch_gan  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  generator, _ = torch_gan.build_models("dcgan")
  weight = generator.layers[0].weight  # ConvTranspose 256 -> 128, 5x5: fan_in 6400.
  np.testing.assert_allclose(float(weight.detach().std()), 1 / math.sqrt(25 * 256), rtol=0.02)
  assert float(weight.detach().abs().max()) <= 2 * ref.lecun_normal_std(25 * 256) + 1e-7


def test_summarize_takes_medians_and_spreads_over_all_repeats():
  summary = ref.summarize([[1.0, 2.0], [4.0, 0.5]], steps_per_repeat=4, images_per_step=8)
  # Steps/s per repeat: 4, 2 | 1, 8.
  assert summary["steps_per_s"] == 3.0
  assert summary["steps_per_s_spread"] == [1.0, 8.0]
  assert summary["steps_per_s_per_round"] == [3.0, 4.5]
  assert summary["images_per_s"] == 24.0
  assert summary["repeats"] == 4


@pytest.mark.slow  # Three worker processes compile and time their steps.
def test_benchmark_command_times_ours_and_a_reference_and_reports_ratios(tmp_path):
  impls = "jax,torch" if benchmark.available("torch") is None else "jax"
  out = tmp_path / "bench.jsonl"
  # This checkout serves as its own baseline: the jax@baseline worker's plumbing.
  result = run_module("experiments.benchmark", "--cases=mlp", "--batch_sizes=8",
                      "--width_scales=0.125", f"--impls={impls}", "--rounds=2", "--repeats=2",
                      "--min_repeat_seconds=0.01", "--config.run.backend=plain",
                      f"--baseline_dir={conftest.ROOT}", f"--out={out}", timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  record = json.loads(result.stdout.strip().splitlines()[-1])
  assert json.loads(out.read_text()) == record
  assert (record["case"], record["batch_size"], record["width_scale"]) == ("mlp", 8, 0.125)
  assert record["config_overrides"] == ["--config.run.backend=plain"]
  ours = record["impls"]["jax"]
  assert ours["g_widths"] == [16, 16] and ours["backend_lowering"] == "plain"
  baseline = record["impls"][benchmark.BASELINE]
  assert baseline["backend_lowering"] == "xla_cpu"  # No overrides: the platform's own.
  assert baseline["steps_per_s"] > 0 and len(baseline["steps_per_s_per_round"]) == 2
  assert record["ratios"]["jax/jax@baseline"] == pytest.approx(
      ours["steps_per_s"] / baseline["steps_per_s"])
  assert ours["repeats"] == 4 and len(ours["steps_per_s_per_round"]) == 2
  assert ours["steps_per_s"] > 0 and ours["images_per_s"] == pytest.approx(8 * ours["steps_per_s"])
  assert ours["compile_s"] > 0 and ours["peak_rss_mb"] > 50
  assert ours["gflop_per_s_xla_count"] == pytest.approx(
      record["flops_per_step_xla"] * ours["steps_per_s"] / 1e9)
  if "torch" in impls:
    theirs = record["impls"]["torch"]
    assert theirs["flops_per_step"] == _mlp_matmul_flops(8, (16, 16), (16, 16))
    assert record["ratios"]["jax/torch"] == pytest.approx(
        ours["steps_per_s"] / theirs["steps_per_s"])
    assert "jax/torch" in record["ratios_per_round"]


def test_benchmark_rejects_an_unknown_case_and_a_bad_baseline_in_one_line(tmp_path):
  result = run_module("experiments.benchmark", "--cases=resnet")
  assert result.returncode == 2
  assert result.stderr.strip().startswith("error: unknown case 'resnet'")
  result = run_module("experiments.benchmark", "--cases=mlp", f"--baseline_dir={tmp_path}")
  assert result.returncode == 2
  assert result.stderr.strip().startswith(f"error: --baseline_dir={str(tmp_path)!r} is not "
                                          f"a checkout of this project")


def test_plot_draws_the_three_scaling_curves(tmp_path):
  def record(case, batch, width, rate, rss):
    return {"case": case, "batch_size": batch, "width_scale": width,
            "impls": {"jax": {"steps_per_s": rate, "peak_rss_mb": rss},
                      "torch": {"steps_per_s": rate / 2, "peak_rss_mb": rss / 2}}}
  records = [record("mlp", b, 1.0, 1000 / b, b) for b in (32, 64, 128)]
  records += [record("mlp", 64, w, 10 / w, 64) for w in (0.5, 2.0)]
  paths = benchmark.plot(records, str(tmp_path))
  assert sorted(p.rsplit("/", 1)[1] for p in paths) == [
      "benchmark_batch_memory.png", "benchmark_batch_steps.png", "benchmark_width_steps.png"]


# ---------------------------------------------------------------------------- sngan


def test_sngan_case_is_the_cpu_config_that_the_torch_reference_copies():
  config = benchmark._our_config("sngan", 0, 1.0, [])  # pylint: disable=protected-access
  # The torch worker cannot import experiments.sngan_cifar10 (JAX): it reads these.
  assert (config.model.name, config.loss.name, config.loss.penalty) == ("resnet", "hinge",
                                                                        "none")
  assert config.model.g_widths == config.model.d_widths == (ref.SNGAN_WIDTH,)
  assert config.model.noise_dim == ref.SNGAN_NOISE_DIM and config.model.dropout_rate == 0
  assert (config.optim.g_lr, config.optim.d_lr) == (ref.SNGAN_G_LR, ref.SNGAN_D_LR)
  assert (config.optim.beta1, config.optim.beta2) == (ref.SNGAN_BETA1, ref.SNGAN_BETA2)
  assert config.optim.ema_decay == ref.SNGAN_EMA_DECAY and config.optim.ema_warmup
  assert (config.optim.d_steps, config.optim.simultaneous) == (1, False)
  assert config.optim.lr_schedule == "constant"
  assert config.loss.augment == ref.SNGAN_AUGMENT
  assert config.batch_size == ref.default_batch_size("sngan") == 64
  assert ref.image_shape("sngan") == (32, 32, 3)
  scaled = benchmark._our_config("sngan", 8, 0.125, [])  # pylint: disable=protected-access
  assert scaled.model.g_widths == (ref.sngan_width(0.125),) == (8,) and scaled.batch_size == 8
  # The MNIST cases still take the references' Adam.
  dcgan = benchmark._our_config("dcgan", 0, 1.0, [])  # pylint: disable=protected-access
  assert (dcgan.optim.g_lr, dcgan.optim.beta1) == (ref.LEARNING_RATE, ref.BETA1)


def test_sngan_case_runs_its_own_torch_reference_in_the_named_python(monkeypatch):
  monkeypatch.delenv("GAN_TORCH_PYTHON", raising=False)
  command = benchmark._worker_command(  # pylint: disable=protected-access
      "torch", "sngan", 64, 1.0, min_repeat_seconds=1.0, threads=0, steps_per_dispatch=10,
      overrides=[], pythons={"torch": "/opt/torch/bin/python"})
  assert command[:3] == ["/opt/torch/bin/python", "-m", "experiments.references.torch_sngan"]
  assert "--model=sngan" in command and "--impl=eager" in command
  monkeypatch.setenv("GAN_TORCH_PYTHON", "/env/python")
  assert benchmark.reference_python("torch") == "/env/python"
  assert benchmark.reference_python("torch", {"torch": "/flag/python"}) == "/flag/python"
  assert benchmark.reference_python("tensorflow") == sys.executable
  assert benchmark.reference_of("torch", "dcgan")[0] == "experiments.references.torch_gan"
  assert benchmark.available("tf", "sngan") == "no tf reference for the sngan case"
  assert benchmark.available("torch_compile", "sngan").startswith("no torch_compile")
  # Another interpreter is asked whether it has the package: here one that has not.
  why_not = benchmark.available("torch", "sngan", {"torch": "/bin/false"})
  assert why_not.startswith("torch is not installed in /bin/false")
  assert benchmark.available("torch", "sngan", {"torch": "/no/such/python"}).startswith(
      "cannot run /no/such/python")


@pytest.mark.slow  # Our worker compiles the ResNet step, torch's steps: a minute or two.
def test_sngan_case_builds_and_steps_at_a_tiny_size(tmp_path):
  # The torch side runs where torch is importable here or GAN_TORCH_PYTHON names a Python
  # that has it (experiments.benchmark.reference_python).
  impls = "jax,torch" if benchmark.available("torch", "sngan") is None else "jax"
  out = tmp_path / "bench.jsonl"
  result = run_module("experiments.benchmark", "--cases=sngan", "--batch_sizes=4",
                      "--width_scales=0.125", f"--impls={impls}", "--rounds=1", "--repeats=2",
                      "--min_repeat_seconds=0.01", f"--out={out}",
                      "--config.run.backend=plain",  # XLA's own lowering: a faster compile.
                      timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  record = json.loads(out.read_text())
  assert (record["case"], record["batch_size"], record["width_scale"]) == ("sngan", 4, 0.125)
  ours = record["impls"]["jax"]
  assert "error" not in ours, ours
  assert ours["g_widths"] == ours["d_widths"] == [8] and ours["images_per_step"] == 4
  assert ours["steps_per_s"] > 0 and ours["repeats"] == 2
  assert record["flops_per_step_xla"] > 0
  if "torch" in impls:
    theirs = record["impls"]["torch"]
    assert "error" not in theirs, theirs
    assert theirs["params"] == ours["params"]
    assert theirs["steps_per_s"] > 0 and theirs["flops_per_step"] > 0
    assert record["ratios"]["jax/torch"] == pytest.approx(
        ours["steps_per_s"] / theirs["steps_per_s"])


def _sngan_params(width_scale: float) -> int:
  config = benchmark._our_config("sngan", 4, width_scale, [])  # pylint: disable=protected-access
  run = build.build(config, data.DataSpec("benchmark", ref.image_shape("sngan")))
  state = jax.eval_shape(run.init, run.keys["init"])
  return sum(x.size for x in jax.tree.leaves((state.generator.params,
                                               state.discriminator.params)))


def test_torch_sngan_has_our_parameters():
  pytest.importorskip("torch")
  from experiments.references import torch_sngan  # pylint: disable=g-import-not-at-top
  for width_scale in (0.125, 1.0):
    generator, discriminator = torch_sngan.build_models(width_scale)
    assert (sum(p.numel() for m in (generator, discriminator) for p in m.parameters())
            == _sngan_params(width_scale))


def test_torch_sngan_translation_and_cutout_are_ours():
  torch = pytest.importorskip("torch")
  from experiments.references import torch_sngan  # pylint: disable=g-import-not-at-top
  from gan import augment  # pylint: disable=g-import-not-at-top
  images = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
  shifts = np.array([[4, -3], [-4, 0], [1, 4]])
  theirs = torch_sngan.translate(torch.from_numpy(images).permute(0, 3, 1, 2),
                                 torch.from_numpy(shifts[:, 0]).view(3, 1, 1),
                                 torch.from_numpy(shifts[:, 1]).view(3, 1, 1))
  np.testing.assert_array_equal(theirs.permute(0, 2, 3, 1).numpy(),
                                np.asarray(augment.translate(images, shifts)))
  offsets = np.array([[0, 32], [16, 5], [31, 1]])  # Centres on [0, 32]: squares cut at borders.
  theirs = torch_sngan.cutout_mask(3, 32, 32, (16, 16),
                                   torch.from_numpy(offsets[:, 0]).view(3, 1, 1),
                                   torch.from_numpy(offsets[:, 1]).view(3, 1, 1))
  np.testing.assert_array_equal(theirs.numpy(),
                                np.asarray(augment.cutout_mask(32, 32, (16, 16), offsets))[..., 0])


def test_torch_sngan_step_takes_one_power_iteration_and_the_warm_ema():
  torch = pytest.importorskip("torch")
  from experiments.references import torch_sngan  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  generator, discriminator = torch_sngan.build_models(0.125)
  layers = [m.parametrizations.weight for m in discriminator.modules()
            if hasattr(m, "parametrizations")]
  assert len(layers) == 4 * 2 + 2 + 1  # Two convolutions a block, two shortcuts, the logit.
  before = [(p.original.detach().clone(), p[0]._u.clone(), p[0]._v.clone()) for p in layers]
  g_before = [p.detach().clone() for p in generator.parameters()]
  step = torch_sngan.make_step(generator, discriminator, 4)
  d_loss, g_loss = step(torch.rand(4, 3, 32, 32) * 2 - 1)
  assert bool(torch.isfinite(d_loss)) and bool(torch.isfinite(g_loss))
  # One power iteration from the stored v with the weights before D's update (the real
  # pass); the fake pass and the G update iterate no further.
  for layer, (weight, _, v) in zip(layers, before):
    matrix = weight.reshape(weight.shape[0], -1)
    u = torch.nn.functional.normalize(matrix @ v, dim=0)
    torch.testing.assert_close(layer[0]._u, u)
    torch.testing.assert_close(layer[0]._v, torch.nn.functional.normalize(matrix.T @ u, dim=0))
  # Step 0 of the EMA's warm-up: decay min(0.999, 1 / 10).
  for ema, new, old in zip(step.ema, generator.parameters(), g_before):
    assert not torch.equal(new.detach(), old)
    torch.testing.assert_close(ema, 0.9 * new.detach() + 0.1 * old)


# ----------------------------------------------------------------------- multi-step


def _tiny_config(**fields):
  """The tiny MLP with dropout and a generator EMA (the benchmark's float32 images)."""
  return conftest.tiny_mlp_config("benchmark", **{
      "model.dropout_rate": 0.2, "optim.ema_decay": 0.9, **fields})


def _blocks_of(k):
  """Fields of a run with blocks of k steps per call (periods multiples of k)."""
  return {"run.steps_per_call": k, "num_steps": k, "run.checkpoint_every": k,
          "run.log_every": k}


def _singles_and_block(config_fields, num_steps):
  """States and metrics of `num_steps` single-step calls and of one block of as many,
  on the same float32 batches in [-1, 1] (as the benchmark's workers step)."""
  single = build.build(_tiny_config(**config_fields), SPEC)
  rng = np.random.default_rng(0)
  images = rng.uniform(-1, 1, (num_steps, single.config.optim.d_steps, 8) + IMAGE_SHAPE)
  images = images.astype(np.float32)
  state, singles = single.init_state(), []
  for i in range(num_steps):
    state, metrics = single.step(state, single.shard({"image": images[i]}))
    singles.append(jax.device_get(metrics))
  block = build.build(_tiny_config(**config_fields, **_blocks_of(num_steps)), SPEC)
  assert block.steps_per_call == num_steps
  block_state, stacked = block.step(block.init_state(),
                                    block.shard({"image": images}, block=True))
  return jax.device_get(state), singles, jax.device_get(block_state), jax.device_get(stacked)


@pytest.mark.slow  # Two programs compiled (tests/build_test.py checks repeat_step fast).
def test_multi_step_equals_as_many_single_steps():
  # The MLP's block on XLA:CPU is a rolled scan; the DCGAN's unrolled one is pinned by
  # tests/golden_test.py (dcgan_blocks_of_2).
  num_steps = 2
  state, singles, block_state, stacked = _singles_and_block({"optim.d_steps": 2}, num_steps)
  assert int(block_state.step) == num_steps
  chex.assert_trees_all_close(flax.serialization.to_state_dict(block_state),
                              flax.serialization.to_state_dict(state), rtol=1e-5, atol=1e-6)
  for i in range(num_steps):
    chex.assert_trees_all_close(jax.tree.map(lambda m, i=i: m[i], stacked), singles[i],
                                rtol=1e-5, atol=1e-6)
