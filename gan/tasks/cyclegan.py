"""CycleGAN: unpaired translation between domains A and B (Zhu et al. 2017).

Two generators, G: A -> B and F: B -> A, and two discriminators, D_B (real b vs
G(a)) and D_A (real a vs F(b)). With the least-squares adversarial loss of the paper
(any loss of `gan.losses` can be chosen, `loss.name`) the generators minimise

  L_G = l_G(D_B(G(a))) + l_G(D_A(F(b)))
        + lambda_A * |F(G(a)) - a|_1 + lambda_B * |G(F(b)) - b|_1            (cycle)
        + lambda_id * (lambda_B * |G(b) - b|_1 + lambda_A * |F(a) - a|_1)   (identity)

jointly, then each discriminator takes one step on

  L_D_B = 1/2 * l_D(D_B(b), D_B(pool_B(G(a))))     (and D_A likewise with F(b)),

where pool_B is the history of generated images (Shrivastava et al. 2017): the
discriminator sees, for each new fake, with probability 1/2 a fake from an earlier
step (which the new one replaces in the pool) and otherwise the new one, once the
pool holds `optim.pool_size` (50) images. The pools are part of the state
(`ImagePool`): checkpointed, resumed, and drawn from the step's keys, so a resumed
run sees exactly the history of an uninterrupted one. lambda_A and lambda_B
(`loss.cycle_weight`, `loss.cycle_weight_b`; 10 and 10 in the paper) weigh the two
cycles apart, as the reference code's `--lambda_A` / `--lambda_B` do: a small lambda_B
lets F(b) drop what G cannot rebuild b from without hiding it in F(b) (the colour
background of MNIST-M, docs/translation.md). The identity term needs domains with the
same channels (lambda_id = 0 otherwise). Learning rates: constant for the
first half of the run, then linearly to 0 (`optim.lr_schedule = "linear_decay"`).

Batches: `{"a": (1, B, H, W, C_A), "b": (1, B, H, W, C_B)}`, each domain in the order
of its own (seed, step) permutation (`gan.data.pairs.UnpairedBatches`).

References:
  Zhu et al. 2017, Unpaired Image-to-Image Translation using Cycle-Consistent
    Adversarial Networks (and its reference code's ImagePool and schedule).
  Shrivastava et al. 2017, Learning from Simulated and Unsupervised Images through
    Adversarial Training (the history of refined images).
"""

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections

from gan import config as config_lib
from gan import losses as losses_lib
from gan.data import DataSpec
from gan.errors import ConfigError
from gan.images import to_float
from gan.state import PlayerState, init_player, make_optimizer
from gan.tasks import translation
from gan.tasks.base import Task

Array = jax.Array


@flax.struct.dataclass
class ImagePool:
  """The history of generated images a discriminator sees: `count` of `images` filled."""

  images: Array
  count: Array


@flax.struct.dataclass
class CycleGANState:
  """Both generators, both discriminators, both pools and the step."""

  step: Array
  g_ab: PlayerState
  g_ba: PlayerState
  d_a: PlayerState
  d_b: PlayerState
  pool_a: ImagePool
  pool_b: ImagePool


def empty_pool(size: int, shape: tuple) -> ImagePool:
  return ImagePool(images=jnp.zeros((size,) + tuple(shape), jnp.float32),
                   count=jnp.zeros((), jnp.int32))


def pool_query(pool: ImagePool, images: Array, key: Array) -> tuple[ImagePool, Array]:
  """The images a discriminator sees for the new fakes `images`, and the new pool.

  For each image in turn (CycleGAN's `ImagePool.query`): while the pool is not full,
  it is stored and returned; once full, with probability 1/2 a uniformly chosen
  stored image is returned and replaced by the new one, else the new one is returned.
  A pool of size 0 returns `images`. Pure: a function of (pool, images, key).
  """
  size = pool.images.shape[0]
  if size == 0:
    return pool, images

  def one(carry, x_key):
    stored, count = carry
    x, key = x_key
    swap_key, index_key = jax.random.split(key)
    filling = count < size
    swap = jnp.logical_and(~filling, jax.random.uniform(swap_key) > 0.5)
    index = jnp.where(filling, count, jax.random.randint(index_key, (), 0, size))
    out = jnp.where(swap, stored[index], x)
    stored = jnp.where(filling | swap, stored.at[index].set(x), stored)
    return (stored, jnp.minimum(count + 1, size)), out

  keys = jax.random.split(key, images.shape[0])
  (stored, count), out = jax.lax.scan(one, (pool.images, pool.count), (images, keys))
  return ImagePool(stored, count), out


def config(task: str = "cyclegan") -> ml_collections.ConfigDict:
  """The base config with CycleGAN's model, loss and optim sections (the paper's values,
  ResNet generators with 9 blocks for 256x256 images; the experiments shrink them)."""
  del task  # One task of this module.
  c = translation.config("pix2pix")
  c.task = "cyclegan"
  c.batch_size = 1
  c.model.generator = "resnet"
  c.model.g_blocks = 9
  c.model.norm = "instance"
  c.model.d_norm = "instance"
  c.model.dropout_rate = 0.0
  c.model.d_conditional = False
  c.loss = ml_collections.ConfigDict()
  c.loss.name = "least_squares"  # The adversarial loss (LSGAN in the paper).
  c.loss.cycle_weight = 10.0  # lambda_A: the cycle a -> G -> F -> a.
  c.loss.cycle_weight_b = 10.0  # lambda_B: the cycle b -> F -> G -> b.
  c.loss.identity_weight = 0.5  # lambda_id, relative to lambda_A / lambda_B; equal channels.
  c.optim.g_lr = 2e-4
  c.optim.d_lr = 2e-4
  c.optim.beta1 = 0.5
  c.optim.lr_schedule = "linear_decay"
  c.optim.pool_size = 50  # History of generated images per discriminator; 0 = none.
  return c


def check_config(config: ml_collections.ConfigDict) -> None:
  """CycleGAN's fields (`ConfigError` on the first bad one)."""
  translation.check_networks(config, generators=("unet", "resnet"))
  losses_lib.get_loss(config.loss.name)
  translation.check_weights(config, ("loss.cycle_weight", "loss.cycle_weight_b",
                                     "loss.identity_weight"))
  translation.check_optim(config)
  config_lib.non_negative_int(config, "optim.pool_size")


def _apply(player: PlayerState, params, stats, x):
  """A player's call in training mode: (output, its new batch_stats)."""
  out, mutated = player.apply_fn({"params": params, "batch_stats": stats}, x, train=True,
                                 mutable=["batch_stats"])
  return out, mutated.get("batch_stats", stats)


def make_train_step(*, loss: losses_lib.GANLoss, cycle_weight: float, cycle_weight_b: float,
                    identity_weight: float):
  """The pure step `(state, batch, key) -> (state, metrics)` of the module docstring.

  cycle_weight is lambda_A, cycle_weight_b lambda_B.
  Metrics: `g_loss` (total), `g_adv`, `cycle`, `identity` (unweighted sums over both
  directions), `cycle_a` and `cycle_b` (each cycle's term), `d_a_loss`, `d_b_loss`,
  `d_a_real` / `d_a_fake` and `d_b_real` / `d_b_fake` (mean sigmoid of the logits).
  """
  with_identity = identity_weight > 0

  def train_step(state: CycleGANState, batch: dict, key: Array):
    pool_a_key, pool_b_key = jax.random.split(jax.random.fold_in(key, state.step))
    a, b = to_float(batch["a"][0]), to_float(batch["b"][0])
    g_ab, g_ba, d_a, d_b = state.g_ab, state.g_ba, state.d_a, state.d_b

    def g_objective(params):
      p_ab, p_ba = params
      s_ab, s_ba = g_ab.batch_stats, g_ba.batch_stats
      fake_b, s_ab = _apply(g_ab, p_ab, s_ab, a)
      rec_a, s_ba = _apply(g_ba, p_ba, s_ba, fake_b)
      fake_a, s_ba = _apply(g_ba, p_ba, s_ba, b)
      rec_b, s_ab = _apply(g_ab, p_ab, s_ab, fake_a)
      logits_b, _ = _apply(d_b, d_b.params, d_b.batch_stats, fake_b)
      logits_a, _ = _apply(d_a, d_a.params, d_a.batch_stats, fake_a)
      cycle_a = losses_lib.cycle_consistency_loss(real=a, reconstructed=rec_a)
      cycle_b = losses_lib.cycle_consistency_loss(real=b, reconstructed=rec_b)
      terms = {
          "g_adv": loss.generator(fake_logits=logits_b) + loss.generator(fake_logits=logits_a),
          "cycle": cycle_a + cycle_b, "cycle_a": cycle_a, "cycle_b": cycle_b,
      }
      total = terms["g_adv"] + cycle_weight * cycle_a + cycle_weight_b * cycle_b
      if with_identity:
        same_b, s_ab = _apply(g_ab, p_ab, s_ab, b)
        same_a, s_ba = _apply(g_ba, p_ba, s_ba, a)
        identity_b = losses_lib.identity_loss(real=b, mapped=same_b)
        identity_a = losses_lib.identity_loss(real=a, mapped=same_a)
        terms["identity"] = identity_b + identity_a
        total = total + identity_weight * (cycle_weight_b * identity_b
                                           + cycle_weight * identity_a)
      return total, (terms, (s_ab, s_ba), (fake_a, fake_b))

    (g_loss, (terms, (s_ab, s_ba), (fake_a, fake_b))), (grads_ab, grads_ba) = (
        jax.value_and_grad(g_objective, has_aux=True)((g_ab.params, g_ba.params)))
    g_ab = g_ab.apply_gradients(grads=grads_ab).replace(batch_stats=s_ab)
    g_ba = g_ba.apply_gradients(grads=grads_ba).replace(batch_stats=s_ba)

    def d_update(d: PlayerState, real: Array, fake: Array):
      def objective(params):
        real_logits, stats = _apply(d, params, d.batch_stats, real)
        fake_logits, stats = _apply(d, params, stats, fake)
        value = 0.5 * loss.discriminator(real_logits=real_logits, fake_logits=fake_logits)
        return value, (stats, real_logits, fake_logits)
      (value, (stats, real_logits, fake_logits)), grads = jax.value_and_grad(
          objective, has_aux=True)(d.params)
      return (d.apply_gradients(grads=grads).replace(batch_stats=stats), value,
              jnp.mean(jax.nn.sigmoid(real_logits)), jnp.mean(jax.nn.sigmoid(fake_logits)))

    pool_a, seen_a = pool_query(state.pool_a, jax.lax.stop_gradient(fake_a), pool_a_key)
    pool_b, seen_b = pool_query(state.pool_b, jax.lax.stop_gradient(fake_b), pool_b_key)
    d_a, d_a_loss, d_a_real, d_a_fake = d_update(d_a, a, seen_a)
    d_b, d_b_loss, d_b_real, d_b_fake = d_update(d_b, b, seen_b)
    metrics = {**terms, "g_loss": g_loss, "d_a_loss": d_a_loss, "d_b_loss": d_b_loss,
               "d_a_real": d_a_real, "d_a_fake": d_a_fake, "d_b_real": d_b_real,
               "d_b_fake": d_b_fake}
    new_state = state.replace(step=state.step + 1, g_ab=g_ab, g_ba=g_ba, d_a=d_a, d_b=d_b,
                              pool_a=pool_a, pool_b=pool_b)
    return new_state, metrics

  return train_step


def domain_shapes(spec: DataSpec) -> tuple[tuple, tuple]:
  """(shape of A, shape of B) of unpaired data, or a `ConfigError` naming the fix."""
  if spec.kind != "unpaired" or not spec.source_shape:
    raise ConfigError("dataset", spec.name, "is not an unpaired data set; give two domains, "
                      "e.g. unpaired:mnist_m:../shared/data/mnist.npz:../shared/data/cifar10.npz "
                      "(gan.data.pairs)")
  shape_a, shape_b = tuple(spec.source_shape), tuple(spec.shape)
  if shape_a[:2] != shape_b[:2]:
    raise ConfigError("dataset", spec.name, f"pairs domains of {shape_a[:2]} and {shape_b[:2]} "
                      f"pixels; CycleGAN's generators keep the size: resize one domain to the "
                      f"other's")
  return shape_a, shape_b


def make(config: ml_collections.ConfigDict, data: DataSpec) -> Task:
  """The CycleGAN task of `config` for the unpaired domains described by `data`."""
  shape_a, shape_b = domain_shapes(data)
  identity_weight = float(config.loss.identity_weight)
  if identity_weight > 0 and shape_a[-1] != shape_b[-1]:
    raise ConfigError("loss.identity_weight", identity_weight, f"needs domains with the same "
                      f"channels, and A has {shape_a[-1]}, B {shape_b[-1]}; set it to 0")
  model = config.model
  g_ab = translation.build_generator(model, out_channels=shape_b[-1], scale=1)
  g_ba = translation.build_generator(model, out_channels=shape_a[-1], scale=1)
  d_a = translation.build_discriminator(model)
  d_b = translation.build_discriminator(model)
  g_optimizer = make_optimizer(translation.schedule_of(config.optim.g_lr, config),
                               config.optim.beta1, config.optim.beta2)
  d_optimizer = make_optimizer(translation.schedule_of(config.optim.d_lr, config),
                               config.optim.beta1, config.optim.beta2)
  pool_size = config.optim.pool_size
  step = make_train_step(loss=losses_lib.get_loss(config.loss.name),
                         cycle_weight=float(config.loss.cycle_weight),
                         cycle_weight_b=float(config.loss.cycle_weight_b),
                         identity_weight=identity_weight)

  def init(key: Array) -> CycleGANState:
    keys = jax.random.split(key, 4)
    example_a = (jnp.zeros((1,) + shape_a, jnp.float32),)
    example_b = (jnp.zeros((1,) + shape_b, jnp.float32),)
    return CycleGANState(
        step=jnp.zeros((), jnp.int32),
        g_ab=init_player(g_ab, keys[0], example_a, g_optimizer),
        g_ba=init_player(g_ba, keys[1], example_b, g_optimizer),
        d_a=init_player(d_a, keys[2], example_a, d_optimizer),
        d_b=init_player(d_b, keys[3], example_b, d_optimizer),
        pool_a=empty_pool(pool_size, shape_a), pool_b=empty_pool(pool_size, shape_b))

  return Task(
      name="cyclegan", init=init, step=step, batch_fields=("a", "b"), generate=generate_fn,
      data_preview=preview_domains, grid_columns=3, progress=("d_a_loss", "d_b_loss", "g_loss"),
      parts={"g_ab": g_ab, "g_ba": g_ba, "d_a": d_a, "d_b": d_b, "shape_a": shape_a,
             "shape_b": shape_b})


def translate(player: PlayerState, images: Array) -> Array:
  """A generator in inference mode on uint8 or [-1, 1] images; float [-1, 1] out."""
  return player.apply_fn({"params": player.params, "batch_stats": player.batch_stats},
                         to_float(images), train=False)


def generate_fn(state: CycleGANState, inputs: dict) -> Array:
  """`{"a": x}` -> G(x) (A to B); `{"b": y}` -> F(y) (B to A); both -> the grid's rows:
  a, G(a), F(G(a)) then b, F(b), G(F(b)), all with the larger channel count."""
  if set(inputs) == {"a"}:
    return translate(state.g_ab, inputs["a"])
  if set(inputs) == {"b"}:
    return translate(state.g_ba, inputs["b"])
  a, b = to_float(inputs["a"]), to_float(inputs["b"])
  fake_b = translate(state.g_ab, a)
  fake_a = translate(state.g_ba, b)
  channels = max(a.shape[-1], b.shape[-1])

  def as_c(x):  # Grey images shown with the colour domain's channels.
    if x.shape[-1] == channels:
      return x
    return jnp.broadcast_to(x.mean(-1, keepdims=True), x.shape[:-1] + (channels,))

  rows_a = jnp.stack([as_c(a), as_c(fake_b), as_c(translate(state.g_ba, fake_b))], axis=1)
  rows_b = jnp.stack([as_c(b), as_c(fake_a), as_c(translate(state.g_ab, fake_a))], axis=1)
  return jnp.concatenate([rows_a, rows_b]).reshape((-1,) + a.shape[1:3] + (channels,))


def preview_domains(data: Any, n: int) -> dict:
  """The grid's fixed inputs: n // 6 held-out images of each domain (training ones if none)."""
  rows = max(1, n // 6)
  a = data.test_a if len(data.test_a) else data.train_a
  b = data.test_b if len(data.test_b) else data.train_b
  return {"a": jnp.asarray(a[:rows]), "b": jnp.asarray(b[:rows])}
