r"""Which weights and BatchNorm statistics a trained generator should sample with.

  python -m experiments.ema_batchnorm --workdir=RUN --dataset=../shared/data/mnist.npz \
      --out=docs/quality_ema_batchnorm.json

The generator EMA (`optim.ema_decay`) averages G's parameters, but its BatchNorm
running statistics are G's own: they were collected with the raw parameters, not the
averaged ones. BigGAN (Brock et al. 2019) recomputes "standing statistics" for the
averaged weights before sampling. This scores the newest checkpoint of RUN five ways,
all on the same evaluation protocol as `gan.cli.evaluate` (10,000 samples from the fixed
key against the first 10,000 training images, the project's extractor):

  ema_running    EMA weights, G's running statistics (what `gan` samples with);
  ema_batch      EMA weights, each chunk of 1,000 samples normalised by its own statistics;
  ema_standing   EMA weights, statistics of the EMA weights averaged over 20 batches of 256;
  raw_running    G's own weights and running statistics;
  raw_batch      G's own weights, each chunk normalised by its own statistics.

Prints and writes {variant: scores}.
"""

import functools
import json

_WORKDIR = _DATASET = _OUT = None  # The command's flags, defined when it runs.
_MOMENTUM = 0.99  # flax.linen.BatchNorm's default, which gan's models use.


def batch_statistics(apply_fn, params, batch_stats, z):
  """The BatchNorm statistics of one batch `z` through G(params), in `batch_stats`'s tree.

  Flax updates a running average as m * old + (1 - m) * batch; one update from `old`
  gives the batch's own mean and variance back exactly up to rounding.
  """
  import jax  # pylint: disable=g-import-not-at-top
  _, updated = apply_fn({"params": params, "batch_stats": batch_stats}, z, train=True,
                        mutable=["batch_stats"])
  return jax.tree.map(lambda new, old: (new - _MOMENTUM * old) / (1 - _MOMENTUM),
                      updated["batch_stats"], batch_stats)


def standing_statistics(apply_fn, params, batch_stats, noise_dim, *, batches=20, size=256,
                        seed=123):
  """BigGAN's standing statistics: batch statistics of G(params) averaged over batches."""
  import jax  # pylint: disable=g-import-not-at-top
  key = jax.random.key(seed)
  each = [batch_statistics(apply_fn, params, batch_stats,
                           jax.random.normal(jax.random.fold_in(key, i), (size, noise_dim)))
          for i in range(batches)]
  return jax.tree.map(lambda *stats: sum(stats) / batches, *each)


def main(argv):
  del argv
  import jax  # pylint: disable=g-import-not-at-top
  from gan import data as data_lib, rundir  # pylint: disable=g-import-not-at-top
  from gan.backends import machine_kind  # pylint: disable=g-import-not-at-top
  from gan.errors import UserError  # pylint: disable=g-import-not-at-top
  from gan.eval import evaluate  # pylint: disable=g-import-not-at-top
  if not _WORKDIR.value:
    raise UserError("--workdir is required: a trained GAN run with a generator EMA")
  run, state = rundir.restore(_WORKDIR.value)
  if getattr(state, "ema_params", None) is None or not state.generator.batch_stats:
    raise UserError(f"the run in {_WORKDIR.value!r} has no generator EMA or no BatchNorm in G; "
                    f"train with --config.optim.ema_decay=0.999 and a dcgan model")
  real = data_lib.load(_DATASET.value)
  protocol = evaluate.make_protocol(num_fake=10000, num_real=None, split_size=real.num_train,
                                    real_split="train", sample_seed=0)
  network = evaluate.choose_extractor(real, kind="lenet")
  stats = evaluate.reference_statistics(network, evaluate.real_images(real, protocol),
                                        name=real.name)
  g = state.generator
  noise_dim = run.task.parts["noise_dim"]

  # One program per BatchNorm mode; the weights and statistics are its arguments.
  @functools.partial(jax.jit, static_argnums=2)
  def generate(variables, z, own_statistics):
    if own_statistics:  # Train-mode BatchNorm: the chunk's own statistics.
      return g.apply_fn(variables, z, train=True, mutable=["batch_stats"])[0]
    return g.apply_fn(variables, z, train=False)

  ema = state.ema_params
  variants = {
      "ema_running": (ema, g.batch_stats, False),
      "ema_batch": (ema, g.batch_stats, True),
      "ema_standing": (ema, standing_statistics(g.apply_fn, ema, g.batch_stats, noise_dim),
                       False),
      "raw_running": (g.params, g.batch_stats, False),
      "raw_batch": (g.params, g.batch_stats, True),
  }
  record = {"what": __doc__.strip().splitlines()[0], "workdir": _WORKDIR.value,
            "step": int(state.step), "extractor": network.describe()["checksum"],
            "machine": machine_kind(), "variants": {}}
  for name, (params, batch_stats, own) in variants.items():
    variables = {"params": params, "batch_stats": batch_stats}
    run.generate = lambda unused_state, inputs, v=variables, o=own: generate(v, inputs["z"], o)
    scores = evaluate.evaluate_generator(run, state, network, stats["features"], protocol)
    record["variants"][name] = {k: scores[k] for k in (
        "fid", "precision", "recall", "mean_confidence", "confident_share", "class_entropy")}
    print(name, json.dumps({k: round(v, 4) for k, v in record["variants"][name].items()}),
          flush=True)
  if _OUT.value:
    rundir.write_json_atomically(_OUT.value, record)


if __name__ == "__main__":
  from absl import flags  # pylint: disable=g-import-not-at-top
  from gan.cli import run_cli  # pylint: disable=g-import-not-at-top
  _WORKDIR = flags.DEFINE_string("workdir", None, "A trained GAN run with a generator EMA.")
  _DATASET = flags.DEFINE_string("dataset", "../shared/data/mnist.npz", "The real images.")
  _OUT = flags.DEFINE_string("out", "", "Where to write the JSON record.")
  run_cli(main)
