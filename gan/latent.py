r"""Latent-space tools: interpolation, the truncation trick, nearest training neighbours,
reconstruction.

Every tool works on a restored run (`gan.rundir.restore`) whose task generates from
noise: its `sample_inputs(key, n)` gives {"z": (n, d)} (the GAN, the conditional GAN
with its "label", the VAE and autoencoder). Everything is a function of (checkpoint,
data, seed): the same call gives the same images and numbers.

Interpolation (`interpolate`, `interpolation_inputs`). A path of `num` points between
two latents a, b drawn from the seed, at t_j = j / (num - 1):

  lerp(a, b; t)  = (1 - t) a + t b
  slerp(a, b; t) = sin((1 - t) theta) / sin(theta) a + sin(t theta) / sin(theta) b,
                   cos(theta) = <a, b> / (|a| |b|)                       (Shoemake 1985)

Slerp keeps |z| near sqrt(d), where N(0, I_d) puts its mass, where lerp's midpoints
fall to |z| ~ sqrt(d / 2) (White 2016). For a conditional run the label stays that
of a; with `classes=(i, j)` z stays fixed and the label is the soft label
w(t) = (1 - t) e_i + t e_j (the generator embeds it as w @ E,
`gan.models.conditional.embed_labels`). Between two checkpoints of one model
(`interpolate_states`): every float leaf of the state lerped, theta_t = (1 - t)
theta_A + t theta_B.

Truncation (`truncated_normal`, `truncation_curve`, Brock et al. 2019, BigGAN). z is
drawn from N(0, I) truncated to [-t, t] in every component: density
phi(z_i) / (2 Phi(t) - 1) on [-t, t], what resampling every |z_i| > t gives; t = inf
is N(0, I). Smaller t trades diversity (recall) for fidelity (precision); the curve
scores the samples of each t with the evaluation protocol (`gan.eval.evaluate`).

Memorisation (`nearest_neighbours`, `memorisation_ratio`). Exact Euclidean nearest
training images of samples in a feature space, and

  ratio = median_s min_x |f(s) - f(x)| / median_r min_x |f(r) - f(x)|,

s samples, r held-out real images (the test split), x training images: < 1 means
samples sit closer to training images than new real images do (copies), about 1 that
they are as novel as new real images.

Reconstruction (`reconstruct`): x -> decoder(encoder(x)) for a task with an encoder
(`Task.reconstruct`: the VAE, the autoencoder), with its PSNR.

References:
  Shoemake 1985, Animating Rotation with Quaternion Curves (SIGGRAPH).
  White 2016, Sampling Generative Networks (arXiv:1609.04468).
  Brock, Donahue & Simonyan 2019, Large Scale GAN Training for High Fidelity Natural
    Image Synthesis (ICLR), Sec. 3.1.
  Kynkaanniemi et al. 2019 (precision/recall); Heusel et al. 2017 (FID).
"""

import functools
import math
import os
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan import build as build_lib
from gan import images as images_lib
from gan.errors import UserError
from gan.metrics import manifold
from gan.metrics.frechet import _as_feature_matrix

Array = jax.Array

MODES = ("lerp", "slerp")
SPACES = ("features", "pixels")
# sin(theta) below which slerp is lerp (the endpoints parallel or opposite).
SLERP_EPSILON = 1e-6
# Samples per generator call, as `gan.build.Run.sample` draws them (fold_in(key, i)).
SAMPLE_CHUNK = build_lib._SAMPLE_CHUNK  # pylint: disable=protected-access


# ------------------------------------------------------------------ interpolation


@jax.jit
def lerp(a: Array, b: Array, t) -> Array:
  """Linear interpolation: (1 - t) a + t b.

  Exact at the ends: t = 0 gives a and t = 1 gives b, bit for bit (finite values).

  Args:
    a, b: (..., d) endpoints.
    t: a scalar or an array of positions broadcastable against a.shape[:-1].

  Returns:
    broadcast(t, a.shape[:-1]) + (d,), in a's dtype.
  """
  a, b = jnp.asarray(a), jnp.asarray(b)
  t = jnp.asarray(t, a.dtype)[..., None]
  return (1 - t) * a + t * b


@jax.jit
def slerp(a: Array, b: Array, t) -> Array:
  """Spherical linear interpolation (Shoemake 1985), on unnormalised vectors.

    slerp(a, b; t) = sin((1 - t) theta) / sin(theta) a + sin(t theta) / sin(theta) b,
    theta = arccos(<a, b> / (|a| |b|)),

  the great-circle path, scaled by the norms: for |a| = |b| every point has that norm.
  Where sin(theta) < `SLERP_EPSILON` (a, b parallel or opposite, or one is 0) the
  path is not defined by the formula and `lerp` is returned. Exact at the ends: t = 0
  gives a and t = 1 gives b, bit for bit.

  Args:
    a, b: (..., d) endpoints.
    t: a scalar or an array of positions broadcastable against a.shape[:-1].

  Returns:
    broadcast(t, a.shape[:-1]) + (d,), in a's dtype.

  References:
    Shoemake 1985; White 2016, Sampling Generative Networks (for GAN latents).
  """
  a, b = jnp.asarray(a), jnp.asarray(b)
  t = jnp.asarray(t, a.dtype)[..., None]
  norms = jnp.linalg.norm(a, axis=-1, keepdims=True) * jnp.linalg.norm(b, axis=-1, keepdims=True)
  cos = jnp.sum(a * b, axis=-1, keepdims=True) / jnp.where(norms > 0, norms, 1)
  theta = jnp.arccos(jnp.clip(cos, -1, 1))
  sin = jnp.sin(theta)
  small = (sin < SLERP_EPSILON) | (norms == 0)
  safe = jnp.where(small, 1, sin)
  spherical = (jnp.sin((1 - t) * theta) / safe) * a + (jnp.sin(t * theta) / safe) * b
  path = jnp.where(small, (1 - t) * a + t * b, spherical)
  # sin(theta) / sin(theta) need not be 1 to the last bit once XLA has fused it.
  return jnp.where(t == 0, a, jnp.where(t == 1, b, path))


def path_positions(num: int) -> np.ndarray:
  """t_j = j / (num - 1), j = 0..num-1: `num` >= 2 points from 0 to 1, both included."""
  if not isinstance(num, (int, np.integer)) or isinstance(num, bool) or num < 2:
    raise UserError(f"num={num!r} points cannot make a path; use at least 2 (the endpoints)")
  return np.linspace(0.0, 1.0, int(num), dtype=np.float32)


def latent_inputs(task, key: Array, n: int) -> dict:
  """`task.sample_inputs(key, n)`, checked to hold the latent z (a `UserError` if not)."""
  if task.generate is None:
    raise UserError(f"the run's task {task.name} does not generate samples; the latent tools "
                    f"need a run that does (gan, conditional_gan, vae, autoencoder)")
  if task.sample_inputs is None:
    raise UserError(f"the run's task {task.name} generates from data, not from a latent z; "
                    f"the latent tools are for tasks that generate from noise (gan, "
                    f"conditional_gan, vae, autoencoder)")
  inputs = dict(task.sample_inputs(key, n))
  if "z" not in inputs:
    raise UserError(f"the run's task {task.name} draws no latent z (its inputs are "
                    f"{sorted(inputs)}); the latent tools are for tasks that generate from z")
  return inputs


def num_classes_of(task) -> int:
  """C of a conditional task (its generator takes a label), else 0."""
  return int(task.parts.get("num_classes", 0) or 0)


def check_classes(classes: Sequence[int], num_classes: int, task_name: str) -> tuple[int, int]:
  """(i, j), two classes of a run with `num_classes` classes, or a one-line `UserError`."""
  if not num_classes:
    raise UserError(f"class interpolation is for a conditional run; the generator of task "
                    f"{task_name} takes no label")
  classes = tuple(classes)
  if len(classes) != 2 or not all(isinstance(c, (int, np.integer)) for c in classes):
    raise UserError(f"classes={classes!r} must be two class numbers, e.g. classes=3,8")
  bad = [c for c in classes if not 0 <= c < num_classes]
  if bad:
    raise UserError(f"classes={','.join(map(str, classes))}: the run was trained on classes "
                    f"0..{num_classes - 1}; choose two of them")
  return int(classes[0]), int(classes[1])


def interpolation_inputs(task, key: Array, *, num: int, rows: int = 1, mode: str = "slerp",
                         classes: Optional[Sequence[int]] = None) -> dict:
  """The inputs of `generate` for `rows` paths of `num` points, row-major (rows * num).

  Latent paths: `task.sample_inputs(key, 2 rows)` gives the endpoints, a = z[:rows] and
  b = z[rows:]; row r is `mode`(a_r, b_r; t_j) (`lerp` or `slerp`), t_j =
  `path_positions(num)`. A conditional run keeps the label of a_r along row r.

  Class paths (`classes=(i, j)`, a conditional task): z = sample_inputs(key, rows)["z"]
  held along each row, and the label the soft label w(t_j) = (1 - t_j) e_i + t_j e_j,
  float (rows * num, C); t = 0 is class i exactly (one-hot), t = 1 class j.

  Args:
    task: the run's task (`gan.tasks.Task`); its `sample_inputs` must give "z".
    key: the seed's key, `jax.random.key(seed)`.
    num: points per path (>= 2).
    rows: paths.
    mode: `lerp` or `slerp` (latent paths; class paths always lerp the label).
    classes: None, or (i, j) for a class path.

  Returns:
    {"z": (rows * num, d)[, "label": (rows * num,) ints or (rows * num, C) floats]}.
  """
  t = path_positions(num)
  if not isinstance(rows, (int, np.integer)) or isinstance(rows, bool) or rows < 1:
    raise UserError(f"rows={rows!r} must be a positive number of paths")
  if mode not in MODES:
    raise UserError(f"mode={mode!r} is not an interpolation; choose one of {list(MODES)}")
  if classes is not None:
    first, last = check_classes(classes, num_classes_of(task), task.name)
    inputs = latent_inputs(task, key, rows)
    if "label" not in inputs:
      raise UserError(f"class interpolation is for a conditional run; the inputs of task "
                      f"{task.name} hold no label")
    num_classes = num_classes_of(task)
    z = inputs["z"]
    eye = np.eye(num_classes, dtype=np.float32)
    weights = lerp(eye[first], eye[last], t)  # (num, C)
    return {"z": jnp.repeat(z, num, axis=0),
            "label": jnp.tile(weights, (rows, 1))}
  inputs = latent_inputs(task, key, 2 * rows)
  z = inputs["z"]
  path = (slerp if mode == "slerp" else lerp)(z[:rows, None], z[rows:, None], t)
  out = {"z": path.reshape((rows * num,) + z.shape[1:])}
  if "label" in inputs:
    out["label"] = jnp.repeat(inputs["label"][:rows], num, axis=0)
  return out


def _check_soft_labels(run, state, inputs: dict) -> None:
  """A one-line `UserError` unless the run's generator takes float (B, C) labels."""
  try:
    jax.eval_shape(run.generate, state, inputs)
  except UserError:
    raise
  except (TypeError, ValueError) as error:
    raise UserError(f"the generator of task {run.task.name} takes only integer labels "
                    f"({type(error).__name__}); class interpolation needs one that takes "
                    f"class weights (B, C)") from error


def interpolate(run, state, key: Array, *, num: int, rows: int = 1, mode: str = "slerp",
                classes: Optional[Sequence[int]] = None) -> np.ndarray:
  """Samples along the paths of `interpolation_inputs`: (rows * num, ...) in [-1, 1].

  Row r of a grid with `num` columns is path r. See `interpolation_inputs` for the
  arguments.
  """
  inputs = interpolation_inputs(run.task, key, num=num, rows=rows, mode=mode, classes=classes)
  state = run.first_seed(state)
  if classes is not None:
    _check_soft_labels(run, state, inputs)
  return np.asarray(run.generate(state, inputs))


# ------------------------------------------------------- interpolation between weights


def _key_name(entry) -> str:
  return str(getattr(entry, "key", getattr(entry, "idx", getattr(entry, "name", entry))))


def named_leaves(tree) -> tuple[list[tuple[str, Any]], Any]:
  """([(path 'a/b/c', leaf)], treedef) of a pytree, in its flattening order."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
  return [("/".join(_key_name(k) for k in path), leaf) for path, leaf in leaves], treedef


def _signature(leaf) -> tuple[tuple[int, ...], str]:
  """(shape, dtype name) of an array, a `jax.ShapeDtypeStruct` or a scalar."""
  if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
    return tuple(leaf.shape), str(leaf.dtype)
  return tuple(np.shape(leaf)), str(jnp.result_type(leaf))


def check_same_model(tree_a, tree_b, *, names: tuple[str, str] = ("a", "b")) -> None:
  """A one-line `UserError` unless the two pytrees hold the same leaves: the same paths,
  shapes and dtypes (the same model), naming the first difference. Leaves may be
  arrays or `jax.ShapeDtypeStruct`s (`jax.eval_shape` of an init: no weights needed)."""
  leaves_a, _ = named_leaves(tree_a)
  leaves_b, _ = named_leaves(tree_b)
  a, b = dict(leaves_a), dict(leaves_b)
  detail = ""
  only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
  if only_a or only_b:
    detail = (f"{only_a[0]} only in {names[0]}" if only_a else
              f"{only_b[0]} only in {names[1]}")
  else:
    for path, leaf in leaves_a:
      (shape_a, dtype_a), (shape_b, dtype_b) = _signature(leaf), _signature(b[path])
      if (shape_a, dtype_a) != (shape_b, dtype_b):
        detail = (f"{path} is {dtype_a}{list(shape_a)} in {names[0]} and "
                  f"{dtype_b}{list(shape_b)} in {names[1]}")
        break
  if detail:
    raise UserError(f"the runs {names[0]} and {names[1]} are different models ({detail}); "
                    f"interpolate between checkpoints of one run, or of runs with the same "
                    f"architecture")


def interpolate_states(state_a, state_b, t: float, *,
                       names: tuple[str, str] = ("a", "b")):
  """The state theta_t = (1 - t) theta_A + t theta_B, leaf by leaf.

  Every floating leaf (parameters, EMA, BatchNorm statistics, optimizer moments) is
  `lerp`ed; the others (the step, counters) are A's. t = 0 gives A and t = 1 gives B,
  bit for bit. The trees must be those of one model (`check_same_model`).

  Args:
    state_a, state_b: two states of the same model (e.g. two checkpoints of one run).
    t: the position, usually in [0, 1].
    names: what the message of `check_same_model` calls them (e.g. their workdirs).

  Returns:
    A state with A's tree structure (so A's `apply_fn`).
  """
  check_same_model(state_a, state_b, names=names)
  leaves_a, treedef = named_leaves(state_a)
  b = dict(named_leaves(state_b)[0])
  floating = [jnp.issubdtype(jnp.result_type(leaf), jnp.floating) for _, leaf in leaves_a]
  mixed = iter(_lerp_leaves([leaf for (_, leaf), f in zip(leaves_a, floating) if f],
                            [b[path] for (path, _), f in zip(leaves_a, floating) if f],
                            jnp.float32(t)))
  return jax.tree_util.tree_unflatten(
      treedef, [next(mixed) if f else leaf for (_, leaf), f in zip(leaves_a, floating)])


@jax.jit
def _lerp_leaves(xs: list, ys: list, t: Array) -> list:
  """[(1 - t) x + t y in x's dtype] for the leaves of two states, in one program."""
  return [((1 - t) * x + t * y).astype(x.dtype) for x, y in zip(xs, ys)]


def interpolate_checkpoints(run, state_a, state_b, key: Array, *, num: int, rows: int = 1,
                            names: tuple[str, str] = ("a", "b")) -> np.ndarray:
  """Samples of `interpolate_states(a, b, t_j)` for fixed inputs: (rows * num, ...).

  Row r holds the r-th of `task.sample_inputs(key, rows)` through the states at t_j =
  `path_positions(num)` (column j), generated by A's model (`run`).
  """
  t = path_positions(num)
  if not isinstance(rows, (int, np.integer)) or isinstance(rows, bool) or rows < 1:
    raise UserError(f"rows={rows!r} must be a positive number of paths")
  state_a, state_b = run.first_seed(state_a), run.first_seed(state_b)
  check_same_model(state_a, state_b, names=names)
  inputs = latent_inputs(run.task, key, rows)
  columns = [np.asarray(run.generate(interpolate_states(state_a, state_b, tj, names=names),
                                     inputs)) for tj in t]
  return np.stack(columns, axis=1).reshape((rows * num,) + columns[0].shape[1:])


# ------------------------------------------------------------------- truncation


def check_threshold(threshold) -> float:
  """The truncation threshold t as a float in (0, inf], or a one-line `UserError`."""
  try:
    value = float(threshold)
  except (TypeError, ValueError):
    value = float("nan")
  if isinstance(threshold, bool) or not value > 0:
    raise UserError(f"truncation threshold {threshold!r} must be in (0, inf]: a positive "
                    f"number of standard deviations, or inf for no truncation")
  return value


def truncated_normal(key: Array, shape: Sequence[int], threshold: float,
                     dtype=jnp.float32) -> Array:
  """z ~ N(0, I) truncated to [-t, t] in every component: the truncation trick.

  Each component has density phi(z) / (2 Phi(t) - 1) on [-t, t] (phi, Phi the standard
  normal density and CDF), the distribution BigGAN's resampling of every |z_i| > t
  gives; drawn by inversion (`jax.random.truncated_normal`): z = sqrt(2) erfinv(u),
  u ~ U(erf(-t / sqrt 2), erf(t / sqrt 2)), from the same uniform bits as
  `jax.random.normal(key)`, so one key's z shrinks monotonically as t falls.
  t = inf is `jax.random.normal(key, shape)` itself.

  Args:
    key: a typed key.
    shape: the shape of z.
    threshold: t in (0, inf].
    dtype: a float dtype.

  Returns:
    z of `shape`, |z_i| < t.

  References:
    Brock, Donahue & Simonyan 2019 (BigGAN), Sec. 3.1 and Appendix B.
  """
  t = check_threshold(threshold)
  if math.isinf(t):
    return jax.random.normal(key, tuple(shape), dtype)
  return jax.random.truncated_normal(key, -t, t, tuple(shape), dtype)


def truncated_inputs(task, key: Array, n: int, threshold: float) -> dict:
  """`task.sample_inputs(key, n)` with z replaced by `truncated_normal(key, ..., t)`.

  The GAN draws z = normal(key), so its truncated z shares that draw's uniform bits
  (and its labels); t = inf returns the sampler's inputs unchanged.
  """
  t = check_threshold(threshold)
  inputs = latent_inputs(task, key, n)
  if not math.isinf(t):
    inputs["z"] = truncated_normal(key, inputs["z"].shape, t, inputs["z"].dtype)
  return inputs


def truncated_samples(run, state, num: int, key: Array, threshold: float) -> np.ndarray:
  """`num` samples with truncated z, as `gan.build.Run.sample` draws them: chunks of 1000
  from `fold_in(key, i)`; t = inf gives exactly `run.sample(state, num, key)`."""
  state = run.first_seed(state)
  out = []
  for i, start in enumerate(range(0, num, SAMPLE_CHUNK)):
    inputs = truncated_inputs(run.task, jax.random.fold_in(key, i),
                              min(SAMPLE_CHUNK, num - start), threshold)
    out.append(np.asarray(run.generate(state, inputs)))
  return np.concatenate(out)


def truncation_grid(run, state, thresholds: Sequence[float], num: int, key: Array) -> np.ndarray:
  """One row of `num` samples per threshold, from one key: (len(thresholds) * num, ...).

  Column j holds the same uniform draw (and label) in every row, its z truncated to
  each row's t.
  """
  rows = [truncated_samples(run, state, num, key, t) for t in thresholds]
  return np.concatenate(rows)


def truncated_mass(threshold: float) -> float:
  """P(|z_i| > t) for z_i ~ N(0, 1): erfc(t / sqrt 2), the share of components truncated."""
  t = check_threshold(threshold)
  return 0.0 if math.isinf(t) else math.erfc(t / math.sqrt(2))


def threshold_json(threshold: float):
  """t for JSON: the number, or "inf"."""
  return "inf" if math.isinf(threshold) else float(threshold)


def truncation_curve(run, state, thresholds: Sequence[float], *, extractor,
                     real_features: np.ndarray, protocol, progress: bool = False
                     ) -> list[dict[str, Any]]:
  """The fidelity/diversity curve: the evaluation's scores of truncated samples per t.

  For each t: `protocol.num_fake` samples from `truncated_samples(run, state, N,
  jax.random.key(protocol.sample_seed), t)` -> uint8 -> the extractor's features ->
  `gan.eval.evaluate.score` (FID, KID, precision/recall, density/coverage, IS where
  the extractor classifies). At t = inf these are the samples, and so the scores, of
  `gan.eval.evaluate.evaluate_run` with the same protocol.

  Args:
    run, state: the restored run.
    thresholds: the t's, each in (0, inf].
    extractor: the `gan.eval.features.FeatureExtractor`.
    real_features: its features of `gan.eval.evaluate.real_images(data, protocol)`.
    protocol: the `gan.eval.evaluate.EvalProtocol`.
    progress: progress bars on stderr.

  Returns:
    [{"threshold": t (or "inf"), "truncated_mass": P(|z_i| > t), metric: value, ...}]
    in the order of `thresholds`.
  """
  from gan.eval import evaluate  # pylint: disable=g-import-not-at-top
  from gan.eval import features as features_lib  # pylint: disable=g-import-not-at-top
  thresholds = [check_threshold(t) for t in thresholds]
  if not thresholds:
    raise UserError("no truncation thresholds given; give some, e.g. thresholds=0.5,1,2,inf")
  key = jax.random.key(protocol.sample_seed)
  curve = []
  for t in thresholds:
    fake = images_lib.to_uint8(truncated_samples(run, state, protocol.num_fake, key, t))
    fake_features, fake_logits = features_lib.extract(extractor, fake, progress=progress,
                                                      desc=f"features t={t:g}")
    scores = evaluate.score(real_features, fake_features, fake_logits, protocol,
                            progress=progress)
    curve.append({"threshold": threshold_json(t), "truncated_mass": truncated_mass(t),
                  **scores})
  return curve


def plot_truncation_curve(curve: Sequence[dict], path: str) -> str:
  """Writes FID against t, and precision against recall (each t marked), to a PNG."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  labels = [p["threshold"] if isinstance(p["threshold"], str) else f"{p['threshold']:g}"
            for p in curve]
  x = np.arange(len(curve))
  figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
  left.plot(x, [p["fid"] for p in curve], "o-")
  left.set_xticks(x, labels)
  left.set_xlabel("truncation threshold t")
  left.set_ylabel("FID")
  left.set_title("FID against t")
  right.plot([p["recall"] for p in curve], [p["precision"] for p in curve], "o-")
  for point, label in zip(curve, labels):
    right.annotate(label, (point["recall"], point["precision"]), textcoords="offset points",
                   xytext=(4, 4), fontsize=8)
  right.set_xlabel("recall (diversity)")
  right.set_ylabel("precision (fidelity)")
  right.set_title("precision against recall, by t")
  figure.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  figure.savefig(path, dpi=100)
  plt.close(figure)
  return path


# ------------------------------------------------------------- nearest neighbours


@functools.partial(jax.jit, static_argnames=("k", "block_rows"))
def _nearest(queries: Array, train: Array, *, k: int, block_rows: int) -> tuple[Array, Array]:
  """(distances, indices) of the k nearest rows of `train` for every row of `queries`."""
  train_norms = jnp.sum(train * train, axis=1)

  def block(rows):
    squared = (jnp.sum(rows * rows, axis=1)[:, None] + train_norms[None, :]
               - 2 * (rows @ train.T))
    squared = jnp.maximum(squared, 0.0) + 0.0  # + 0: no -0.0 distances.
    # The k smallest by striking out the row minimum k times: argmin takes the lowest
    # index among equal values, so ties rank by index, as in a stable sort (and on CPU
    # this is ~10x faster than lax.top_k over 60k columns).
    picked = jnp.arange(rows.shape[0])

    def strike(distances, _):
      nearest = jnp.argmin(distances, axis=1)
      found = (distances[picked, nearest], nearest)
      return distances.at[picked, nearest].set(jnp.inf), found

    _, (values, indices) = jax.lax.scan(strike, squared, None, length=k)
    return jnp.sqrt(values.T), indices.T

  blocks = manifold._blocks(queries, block_rows, 0.0)  # pylint: disable=protected-access
  distances, indices = jax.lax.map(block, blocks)
  n = queries.shape[0]
  return distances.reshape(-1, k)[:n], indices.reshape(-1, k)[:n]


def nearest_neighbours(sample_features, train_features, k: int = 1, *,
                       block_rows: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
  """The k nearest training rows of every sample row, by exact Euclidean distance.

  d(s, x) = sqrt(max(|s|^2 + |x|^2 - 2 <s, x>, 0)) in float64 (under a scoped
  `jax.enable_x64`, the matmul form that `gan.metrics.manifold` uses: rounding of about
  1e-16 |x|^2 in d^2), ranked ascending; equal distances rank by the lower training
  index, as a stable sort does. The distances are never held whole: samples go in
  blocks of `block_rows` rows (default: at most 16M distances, 128 MB, per block), so
  10k samples against 60k training images take 38 blocks.

  Args:
    sample_features: (N, d) features of the samples.
    train_features: (M, d) features of the training images, M >= k.
    k: neighbours per sample.
    block_rows: sample rows per block; None picks it from the 16M budget.

  Returns:
    (distances (N, k) float64, indices (N, k) int) numpy arrays, nearest first.
  """
  k = manifold._check_k(k)  # pylint: disable=protected-access
  samples = _as_feature_matrix(sample_features, name="sample_features", min_samples=1)
  train = _as_feature_matrix(train_features, name="train_features", min_samples=k)
  if samples.shape[1] != train.shape[1]:
    raise UserError(f"sample_features have feature_dim {samples.shape[1]} but train_features "
                    f"{train.shape[1]}; embed both with the same network")
  rows = manifold._rows_per_block(  # pylint: disable=protected-access
      len(samples), len(train), block_rows)
  with jax.enable_x64(True):
    distances, indices = _nearest(jnp.asarray(samples), jnp.asarray(train), k=k,
                                  block_rows=rows)
    return np.asarray(distances), np.asarray(indices)


def memorisation_ratio(sample_distances, test_distances) -> dict[str, float]:
  """How much closer samples sit to the training set than new real images do.

    ratio = median_s d_1(s) / median_r d_1(r),

  d_1 the distance to the nearest training image (the first column of
  `nearest_neighbours`), s the samples, r held-out real (test) images. < 1: samples
  are nearer their training neighbours than new real images are (memorisation);
  about 1: as novel as new real images. Also the share of samples nearer their
  training neighbour than the nearest of all test images is to its own
  (`copies_share`: samples closer than any new real image comes).

  Args:
    sample_distances: (N,) or (N, k) distances of the samples (column 0 is used).
    test_distances: (M,) or (M, k) distances of the test images.

  Returns:
    {"ratio", "sample_median", "test_median", "copies_share"}; ratio is inf when the
    test median is 0 and the sample median is not.
  """
  s = np.asarray(sample_distances, np.float64)
  r = np.asarray(test_distances, np.float64)
  s, r = (x[:, 0] if x.ndim == 2 else x for x in (s, r))
  if s.size == 0 or r.size == 0:
    raise UserError("the memorisation ratio needs at least one sample and one test image")
  sample_median, test_median = float(np.median(s)), float(np.median(r))
  if test_median > 0:
    ratio = sample_median / test_median
  else:
    ratio = float("inf") if sample_median > 0 else 1.0
  return {"ratio": ratio, "sample_median": sample_median, "test_median": test_median,
          "copies_share": float(np.mean(s < np.min(r)))}


def neighbour_grid(samples: np.ndarray, train_images: np.ndarray,
                   indices: np.ndarray) -> np.ndarray:
  """Rows of (sample, its k neighbours): (N * (k + 1), H, W, C) floats in [-1, 1].

  Args:
    samples: (N, H, W, C) samples, uint8 or floats in [-1, 1].
    train_images: (M, H, W, C) training images, uint8 or floats in [-1, 1].
    indices: (N, k) training indices (`nearest_neighbours`).

  Returns:
    The images of a grid with k + 1 columns (`gan.images.save_grid(..., num_cols=k+1)`).
  """
  samples = np.asarray(images_lib.to_float(jnp.asarray(samples)))
  indices = np.asarray(indices)
  neighbours = np.asarray(images_lib.to_float(jnp.asarray(np.asarray(train_images)[
      indices.reshape(-1)])))
  n, k = indices.shape
  neighbours = neighbours.reshape((n, k) + neighbours.shape[1:])
  return np.concatenate([samples[:, None], neighbours], axis=1).reshape(
      (n * (k + 1),) + samples.shape[1:])


def pixel_features(images: np.ndarray) -> np.ndarray:
  """Images as float32 vectors in [-1, 1]: (N, H * W * C), the pixel space."""
  images = np.asarray(images)
  return (images.reshape(len(images), -1).astype(np.float32) / 127.5 - 1.0
          if images.dtype == np.uint8 else images.reshape(len(images), -1).astype(np.float32))


# ------------------------------------------------------------------ reconstruction


def reconstruct(run, state, images: np.ndarray, labels: Optional[np.ndarray] = None
                ) -> np.ndarray:
  """decoder(encoder(x)) of uint8 (N, H, W, C) images: (N, H, W, C) floats in [-1, 1].

  Calls the task's `reconstruct(state, {"image": x in [-1, 1][, "label": y]})` in
  chunks of 1000; a task without an encoder (`Task.reconstruct` None: a GAN) is a
  one-line `UserError`.
  """
  task = run.task
  if task.reconstruct is None:
    raise UserError(f"the run's task {task.name} has no encoder to reconstruct with; "
                    f"reconstruction is for a task that has one (vae, autoencoder)")
  conditional = "label" in task.batch_fields
  if conditional and labels is None:
    raise UserError(f"task {task.name} is conditional: reconstructing needs the images' labels")
  state = run.first_seed(state)
  fn = jax.jit(task.reconstruct)
  out = []
  for start in range(0, len(images), SAMPLE_CHUNK):
    inputs = {"image": images_lib.to_float(jnp.asarray(images[start:start + SAMPLE_CHUNK]))}
    if conditional:
      inputs["label"] = jnp.asarray(np.asarray(labels)[start:start + SAMPLE_CHUNK], jnp.int32)
    with run.backend.lowering():
      out.append(np.asarray(fn(state, inputs)))
  return np.concatenate(out)


def reconstruction_grid(images: np.ndarray, reconstructions: np.ndarray, *,
                        columns: int = 8) -> np.ndarray:
  """Pairs of rows: `columns` originals above their reconstructions, for a grid of
  `columns` columns; a short last pair is filled with white. Floats in [-1, 1]."""
  originals = np.asarray(images_lib.to_float(jnp.asarray(images)))
  recons = np.asarray(reconstructions, np.float32)
  columns = max(1, min(int(columns), len(originals)))
  fill = (-len(originals)) % columns
  if fill:
    blank = np.ones((fill,) + originals.shape[1:], np.float32)
    originals, recons = (np.concatenate([x, blank]) for x in (originals, recons))
  pairs = [np.concatenate([originals[i:i + columns], recons[i:i + columns]])
           for i in range(0, len(originals), columns)]
  return np.concatenate(pairs)


# ----------------------------------------------------- a run's workdir, end to end


def built_run(workdir: str):
  """The run in `workdir` built from its saved config and data.json, nothing restored
  or compiled: what its task is and what shapes its state has, in moments."""
  from gan import build, rundir  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(workdir):
    raise UserError(f"workdir {workdir!r} does not exist; give a training run's workdir")
  return build.build(rundir.load_run_config(workdir), rundir.load_data_spec(workdir))


def check_generator(run, workdir: str) -> None:
  """A one-line `UserError` unless the run in `workdir` generates from a latent z."""
  if run.generate is None:
    raise UserError(f"the run in {workdir!r} (task {run.config.task}) does not generate "
                    f"samples; the latent tools need a run that does")
  latent_inputs(run.task, jax.random.key(0), 1)  # Raises unless the task draws z.


def check_same_models(workdir_a: str, workdir_b: str) -> None:
  """A one-line `UserError` unless the runs in the two workdirs are one model: the same
  task and the same state tree (paths, shapes, dtypes), compared without restoring."""
  run_a, run_b = built_run(workdir_a), built_run(workdir_b)
  names = (repr(workdir_a), repr(workdir_b))
  if run_a.config.task != run_b.config.task:
    raise UserError(f"the runs {names[0]} and {names[1]} are different models (tasks "
                    f"{run_a.config.task} and {run_b.config.task}); interpolate between "
                    f"checkpoints of one model")
  check_same_model(jax.eval_shape(run_a.init, run_a.keys["init"]),
                   jax.eval_shape(run_b.init, run_b.keys["init"]), names=names)


def restore_generator(workdir: str, step: Optional[int] = None):
  """(run, state) of a run that generates from z (`gan.rundir.restore`), else a `UserError`
  (raised before anything is restored)."""
  from gan import rundir  # pylint: disable=g-import-not-at-top
  check_generator(built_run(workdir), workdir)
  return rundir.restore(workdir, step)


def _real_data(run, dataset: Optional[str]):
  """The data set to compare with: `dataset`, else the run's, with the run's image shape."""
  from gan.eval import evaluate  # pylint: disable=g-import-not-at-top
  load = evaluate._load_real_data  # pylint: disable=protected-access
  real = load(dataset or run.config.dataset, run.config, from_flag=dataset is not None)
  if tuple(real.image_shape) != tuple(run.spec.shape):
    raise UserError(f"the real images are {real.image_shape} but the run generates "
                    f"{tuple(run.spec.shape)}; pass dataset= the data set it was trained on")
  return real


def truncation_report(workdir: str, thresholds: Sequence[float], *,
                      step: Optional[int] = None, num_samples: Optional[int] = None,
                      num_real: Optional[int] = None, real_split: str = "train",
                      sample_seed: int = 0, dataset: Optional[str] = None,
                      extractor: Optional[str] = None, extractor_dir: Optional[str] = None,
                      extractor_config: Optional[ml_collections.ConfigDict] = None,
                      kid_subsets: int = 100, kid_subset_size: int = 1000,
                      is_splits: int = 10, pr_k: int = 3, dc_k: int = 5,
                      grid_num: int = 0, progress: bool = True
                      ) -> tuple[dict[str, Any], Optional[np.ndarray]]:
  """The truncation curve of a run's checkpoint, as JSON: `truncation_curve` under the
  evaluation protocol of `gan.eval.evaluate.evaluate_run` (same arguments, same
  defaults), so its t = inf point is what that prints.

  Returns:
    (JSON {"workdir", "step", "curve": [...], "protocol": {extractor, n_real, n_fake,
    ..., "latent": how z was drawn}}, and with `grid_num` > 0 the `truncation_grid` of
    `grid_num` samples per threshold from the evaluation key (the first samples each
    point was scored on), else None).
  """
  from gan.backends import machine_kind  # pylint: disable=g-import-not-at-top
  from gan.eval import evaluate  # pylint: disable=g-import-not-at-top
  from gan.eval import features as features_lib  # pylint: disable=g-import-not-at-top
  thresholds = [check_threshold(t) for t in thresholds]
  if not thresholds:
    raise UserError("no truncation thresholds given; give some, e.g. thresholds=0.5,1,2,inf")
  run, state = restore_generator(workdir, step)
  real = _real_data(run, dataset)
  split_size = real.num_train if real_split == "train" else real.test_images.shape[0]
  protocol = evaluate.make_protocol(
      num_fake=run.config.eval.num_samples if num_samples is None else num_samples,
      num_real=num_real, split_size=split_size, real_split=real_split,
      sample_seed=sample_seed, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size,
      is_splits=is_splits, pr_k=pr_k, dc_k=dc_k)
  network = evaluate.choose_extractor(real, kind=extractor, extractor_dir=extractor_dir,
                                      recipe=extractor_config, progress=progress)
  reals = evaluate.real_images(real, protocol)
  labels = (real.train_labels if real_split == "train" else real.test_labels)[:len(reals)]
  fingerprint = features_lib.dataset_fingerprint(reals, labels)
  stats = evaluate.reference_statistics(network, reals, fingerprint=fingerprint,
                                        name=real.name, progress=progress)
  curve = truncation_curve(run, state, thresholds, extractor=network,
                           real_features=stats["features"], protocol=protocol,
                           progress=progress)
  grid = (truncation_grid(run, state, thresholds, grid_num, jax.random.key(sample_seed))
          if grid_num else None)
  return {
      "workdir": os.path.abspath(workdir),
      "step": int(state.step),
      "curve": curve,
      "protocol": {
          "extractor": network.describe(),
          **protocol.describe(),
          "latent": ("z ~ N(0, I) truncated to [-t, t] per component "
                     "(jax.random.truncated_normal, from the key each chunk's z is drawn "
                     "with); t = inf: the evaluation's own samples"),
          "real_data": {"dataset": real.name, "fingerprint": fingerprint},
          "model": run.config.model.get("name", run.config.task),
          "machine": machine_kind(),
      },
  }, grid


def neighbours_report(workdir: str, *, step: Optional[int] = None, num: int = 8, k: int = 5,
                      num_samples: int = 1000, num_train: Optional[int] = None,
                      sample_seed: int = 0, dataset: Optional[str] = None,
                      space: str = "features", extractor: Optional[str] = None,
                      extractor_dir: Optional[str] = None,
                      extractor_config: Optional[ml_collections.ConfigDict] = None,
                      progress: bool = True) -> tuple[dict[str, Any], np.ndarray]:
  """The nearest training images of a run's samples, and its memorisation ratio.

  `num_samples` samples from `jax.random.key(sample_seed)` (the evaluation's samples,
  `gan.build.Run.sample`) and the first min(num_samples, test size) test images are
  embedded (`space`: `features` of the evaluation's extractor, or `pixels`), with the
  first `num_train` training images (default all); `nearest_neighbours` of both give
  `memorisation_ratio`, and the first `num` samples with their k neighbours make the
  grid.

  Returns:
    (JSON {"workdir", "step", "space", "k", "memorisation": {...}, "neighbours":
    [{"sample", "train_indices", "distances"}] for the first `num` samples,
    "protocol": {...}}, the grid's images (`neighbour_grid`, k + 1 columns)).
  """
  from gan.backends import machine_kind  # pylint: disable=g-import-not-at-top
  from gan.eval import evaluate  # pylint: disable=g-import-not-at-top
  from gan.eval import features as features_lib  # pylint: disable=g-import-not-at-top
  if space not in SPACES:
    raise UserError(f"space={space!r} is not a feature space; choose one of {list(SPACES)}")
  for name, value in (("num", num), ("k", k), ("num_samples", num_samples)):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
      raise UserError(f"{name}={value!r} must be a positive integer")
  if num > num_samples:
    raise UserError(f"num={num} grid rows exceed num_samples={num_samples}; use num <= "
                    f"num_samples")
  run, state = restore_generator(workdir, step)
  real = _real_data(run, dataset)
  num_train = real.num_train if num_train is None else num_train
  if not 1 <= num_train <= real.num_train or num_train < k:
    raise UserError(f"num_train={num_train} must be between k={k} and the "
                    f"{real.num_train} training images")
  num_test = min(num_samples, real.test_images.shape[0])
  if num_test == 0:
    raise UserError(f"{real.name} has no test split to compare the samples' distances with; "
                    f"give the full data set (dataset=PATH, e.g. ../shared/data/mnist.npz)")
  samples = images_lib.to_uint8(run.sample(run.first_seed(state), num_samples,
                                           jax.random.key(sample_seed)))
  train = np.asarray(real.train_images[:num_train])
  test = np.asarray(real.test_images[:num_test])
  described = {"space": "pixels in [-1, 1]"}
  if space == "pixels":
    embed = pixel_features
    train_features = pixel_features(train)
  else:
    network = evaluate.choose_extractor(real, kind=extractor, extractor_dir=extractor_dir,
                                        recipe=extractor_config, progress=progress)
    embed = lambda x: features_lib.extract(network, x, progress=progress)[0]
    train_features = evaluate.reference_statistics(
        network, train, name=real.name, progress=progress,
        fingerprint=features_lib.dataset_fingerprint(
            train, np.asarray(real.train_labels)[:num_train]))["features"]
    described = {"extractor": network.describe()}
  sample_d, sample_i = nearest_neighbours(embed(samples), train_features, k)
  test_d, _ = nearest_neighbours(embed(test), train_features, 1)
  result = {
      "workdir": os.path.abspath(workdir),
      "step": int(state.step),
      "space": space,
      "k": int(k),
      "memorisation": memorisation_ratio(sample_d, test_d),
      "neighbours": [{"sample": i, "train_indices": sample_i[i].tolist(),
                      "distances": sample_d[i].tolist()} for i in range(num)],
      "protocol": {
          **described,
          "n_samples": int(num_samples), "n_test": int(num_test), "n_train": int(num_train),
          "samples": f"jax.random.key({sample_seed}), as gan.cli.sample and gan.cli.evaluate",
          "train": f"{real.name} train[:{num_train}]", "test": f"{real.name} test[:{num_test}]",
          "distance": "exact Euclidean, float64",
          "ratio": ("median over samples of the distance to the nearest training image / "
                    "the same median over test images"),
          "machine": machine_kind(),
      },
  }
  return result, neighbour_grid(samples[:num], train, sample_i[:num])


def reconstruction_report(workdir: str, *, step: Optional[int] = None,
                          dataset: Optional[str] = None, num: int = 16,
                          split: str = "test") -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
  """Reconstructions of the first `num` images of a split by a run with an encoder.

  Returns:
    (JSON {"workdir", "step", "split", "num", "mse" (in [-1, 1], mean over pixels and
    images), "psnr" (dB, `gan.metrics.psnr` on [-1, 1], mean of the finite values),
    "exact" (images reconstructed exactly)}, the originals (uint8), the reconstructions
    (floats in [-1, 1])).
  """
  from gan import rundir  # pylint: disable=g-import-not-at-top
  from gan.metrics import psnr  # pylint: disable=g-import-not-at-top
  if split not in ("train", "test"):
    raise UserError(f"split={split!r}; choose train or test")
  if not isinstance(num, (int, np.integer)) or isinstance(num, bool) or num < 1:
    raise UserError(f"num={num!r} must be a positive number of images")
  built = built_run(workdir)
  if built.task.reconstruct is None:  # Refused before anything is restored.
    raise UserError(f"the run in {workdir!r} (task {built.config.task}) has no encoder to "
                    f"reconstruct with; reconstruction is for a task that has one (vae, "
                    f"autoencoder)")
  run, state = rundir.restore(workdir, step)
  real = _real_data(run, dataset)
  pool, labels = ((real.train_images, real.train_labels) if split == "train"
                  else (real.test_images, real.test_labels))
  if len(pool) < num:
    raise UserError(f"the {split} split of {real.name} holds {len(pool)} images, fewer than "
                    f"num={num}")
  images = np.asarray(pool[:num])
  recon = reconstruct(run, state, images, np.asarray(labels)[:num])
  target = np.asarray(images_lib.to_float(jnp.asarray(images)))
  per_image = psnr(recon, target, data_range=2.0)
  finite = per_image[np.isfinite(per_image)]
  result = {
      "workdir": os.path.abspath(workdir),
      "step": int(state.step),
      "split": f"{real.name} {split}[:{num}]",
      "num": int(num),
      "mse": float(np.mean((recon.astype(np.float64) - target) ** 2)),
      "psnr": float(np.mean(finite)) if finite.size else float("inf"),
      "exact": int(np.sum(~np.isfinite(per_image))),
  }
  return result, images, recon
