"""Class heads of the discriminators: projection, auxiliary classifier; build()'s combinations."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan import losses, models
from gan.errors import ConfigError
from gan.models.conditional import LabelConcatDiscriminator, LabelConcatGenerator
from gan.models.dcgan import DCGANDiscriminator
from gan.models.latent import DiscreteLatentGenerator
from gan.models.mlp import MLPDiscriminator
from gan.models.packing import MinibatchStdDiscriminator
from gan.models.resnet import ResNetDiscriminator, ResNetGenerator

NUM_CLASSES = 10
BATCH = 4
SHAPE = (28, 28, 1)
_TINY = {"dcgan": dict(g_widths=(8, 4, 4), d_widths=(4, 8), dropout_rate=0.0),
         "mlp": dict(g_widths=(16,), d_widths=(16,), dropout_rate=0.0),
         "resnet": dict(g_widths=(8,), d_widths=(8,), dropout_rate=0.0)}


def _images(seed=0):
  return jax.random.uniform(jax.random.key(seed), (BATCH,) + SHAPE, minval=-1.0, maxval=1.0)


def _normalised(matrix, u):
  """W / sigma, sigma from one power-iteration step from u (flax.linen.SpectralNorm)."""
  l2 = lambda a: a / jnp.sqrt(jnp.sum(a ** 2) + 1e-12)
  v = l2(u @ matrix.T)
  u = l2(v @ matrix)
  return matrix / (v @ matrix @ u.T)[0, 0]


def _features(family, d, variables, x):
  """phi(x) by hand from the captured output of the last feature layer."""
  _, state = d.apply(variables, x, jnp.zeros((BATCH,), jnp.int32), train=False,
                     capture_intermediates=True, mutable=["intermediates"])
  inter = state["intermediates"]
  if family == "dcgan":  # Flattened LeakyReLU(0.3) of the last convolution.
    return nn.leaky_relu(inter["Conv_1"]["__call__"][0], 0.3).reshape((BATCH, -1))
  if family == "mlp":  # LeakyReLU(0.2) of the last hidden layer.
    return nn.leaky_relu(inter["Dense_0"]["__call__"][0], 0.2)
  return jnp.sum(nn.relu(inter["block4"]["__call__"][0]), axis=(1, 2))  # Global sum pool.


@pytest.mark.parametrize("family", ["dcgan", "resnet"])
def test_projection_logit_is_psi_plus_inner_product_with_the_class_embedding(family):
  g, d = models.build(family, image_shape=SHAPE, num_classes=NUM_CLASSES,
                      conditioning="projection", **_TINY[family])
  assert isinstance(g, ResNetGenerator if family == "resnet" else LabelConcatGenerator)
  assert isinstance(d, DCGANDiscriminator if family == "dcgan" else ResNetDiscriminator)
  x = _images()
  variables = d.init(jax.random.key(1), x, jnp.zeros((BATCH,), jnp.int32), train=False)
  params = variables["params"]
  embedding = params["class_embedding"]["embedding"]
  chex.assert_shape(embedding, (NUM_CLASSES, None))
  phi = _features(family, d, variables, x)
  chex.assert_shape(phi, (BATCH, embedding.shape[1]))
  logit_layer = params["logit" if family == "resnet" else "Dense_0"]
  kernel, v = logit_layer["kernel"], embedding
  if family == "resnet":  # Spectrally normalised, both psi and the embedding.
    stats = variables["batch_stats"]
    kernel = _normalised(kernel, stats["SpectralNorm_0"]["logit/kernel/u"])
    v = _normalised(embedding, stats["SpectralNorm_1"]["class_embedding/embedding/u"])
  psi = (phi @ kernel)[:, 0] + logit_layer["bias"][0]
  judge = jax.jit(lambda y: d.apply(variables, x, y, train=False))
  for labels in (jnp.array([0, 1, 2, 3]), jnp.array([9, 9, 5, 0])):
    expected = psi + jnp.sum(v[labels] * phi, axis=1)
    np.testing.assert_allclose(judge(labels), expected, rtol=1e-4, atol=1e-5)
  # The label moves the logit by exactly <V[y] - V[y'], phi(x)>.
  a, b = jnp.array([0, 1, 2, 3]), jnp.array([4, 4, 7, 3])
  np.testing.assert_allclose(judge(a) - judge(b), jnp.sum((v[a] - v[b]) * phi, axis=1),
                             rtol=1e-3, atol=1e-5)
  assert float(judge(a)[3] - judge(b)[3]) == 0.0  # The same label, the same logit.


@pytest.mark.parametrize("family", ["dcgan", "mlp", "resnet"])
def test_acgan_discriminator_returns_logits_and_class_logits(family):
  g, d = models.build(family, image_shape=SHAPE, num_classes=NUM_CLASSES, conditioning="acgan",
                      **_TINY[family])
  assert isinstance(g, ResNetGenerator if family == "resnet" else LabelConcatGenerator)
  assert not isinstance(d, LabelConcatDiscriminator)
  x = _images()
  variables = d.init(jax.random.key(1), x, jnp.zeros((BATCH,), jnp.int32), train=False)
  judge = jax.jit(lambda y: d.apply(variables, x, y, train=False))
  logits, class_logits = judge(jnp.arange(BATCH))
  chex.assert_shape(logits, (BATCH,))
  chex.assert_shape(class_logits, (BATCH, NUM_CLASSES))
  assert logits.dtype == class_logits.dtype == jnp.float32
  # The auxiliary classifier does not look at the label: it predicts it.
  other_logits, other_class_logits = judge(jnp.full((BATCH,), 7))
  np.testing.assert_array_equal(logits, other_logits)
  np.testing.assert_array_equal(class_logits, other_class_logits)
  # class_logits = W phi(x) + b, by hand (spectrally normalised W for resnet).
  classifier = variables["params"]["class_logits"]
  kernel = classifier["kernel"]
  if family == "resnet":
    kernel = _normalised(kernel, variables["batch_stats"]["SpectralNorm_1"][
        "class_logits/kernel/u"])
  phi = _features(family, d, variables, x)
  np.testing.assert_allclose(class_logits, phi @ kernel + classifier["bias"], rtol=1e-4,
                             atol=1e-5)


_COMBINATIONS = [(family, conditioning) for family in ("dcgan", "mlp", "resnet")
                 for conditioning in ("concat", "projection", "acgan")
                 if not (family == "mlp" and conditioning == "projection")]


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)], ids=["28x28x1", "32x32x3"])
@pytest.mark.parametrize("family,conditioning", _COMBINATIONS)
def test_conditional_players_shapes_and_dtypes(family, conditioning, shape):
  g, d = models.build(family, image_shape=shape, num_classes=NUM_CLASSES,
                      conditioning=conditioning, **_TINY[family])
  z = jax.ShapeDtypeStruct((BATCH, 8), jnp.float32)
  labels = jax.ShapeDtypeStruct((BATCH,), jnp.int32)

  def players(z, labels):  # Shapes only: traced, not compiled.
    g_vars = g.init(jax.random.key(0), z, labels, train=False)
    images = g.apply(g_vars, z, labels, train=False)
    d_vars = d.init(jax.random.key(1), images, labels, train=False)
    return images, d.apply(d_vars, images, labels, train=False)

  images, out = jax.eval_shape(players, z, labels)
  assert (images.shape, images.dtype) == ((BATCH,) + shape, jnp.float32)
  if conditioning == "acgan":
    logits, class_logits = out
    assert (class_logits.shape, class_logits.dtype) == ((BATCH, NUM_CLASSES), jnp.float32)
  else:
    logits = out
  assert (logits.shape, logits.dtype) == ((BATCH,), jnp.float32)


def test_auxiliary_classifier_loss_by_hand():
  class_logits = jnp.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [5.0, -5.0, 0.0]])
  labels = jnp.array([2, 1, 1])
  log_z = np.log(np.exp(1.0) + np.exp(2.0) + np.exp(3.0))
  by_hand = np.mean([log_z - 3.0, np.log(3.0), np.log(np.exp(5.0) + np.exp(-5.0) + 1.0) + 5.0])
  loss = losses.auxiliary_classifier_loss(class_logits=class_logits, labels=labels)
  np.testing.assert_allclose(loss, by_hand, rtol=1e-6)
  np.testing.assert_allclose(
      loss, jnp.mean(optax.softmax_cross_entropy_with_integer_labels(class_logits, labels)),
      rtol=1e-6)
  # d loss / d logits = (softmax - one_hot) / B.
  grad = jax.grad(lambda l: losses.auxiliary_classifier_loss(class_logits=l, labels=labels))(
      class_logits)
  expected = (jax.nn.softmax(class_logits) - jax.nn.one_hot(labels, 3)) / 3
  np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)
  # Uniform logits: log C.
  np.testing.assert_allclose(losses.auxiliary_classifier_loss(
      class_logits=jnp.zeros((2, 10)), labels=jnp.array([0, 9])), np.log(10.0), rtol=1e-6)


def test_wrappers_pass_the_labels_through():
  # Minibatch std on D's input, and the discrete latent code on G's, with class heads.
  g, d = models.build("resnet", image_shape=SHAPE, num_classes=NUM_CLASSES,
                      conditioning="projection", minibatch_std=True, latent_codes=3,
                      **_TINY["resnet"])
  assert isinstance(g, DiscreteLatentGenerator) and isinstance(g.inner, ResNetGenerator)
  assert isinstance(d, MinibatchStdDiscriminator)
  z = jax.random.normal(jax.random.key(0), (BATCH, 8))
  labels = jnp.arange(BATCH)

  def players(d):  # Shapes only: traced (where a dropped label would fail), not run.
    def run(z, labels):
      g_vars = g.init(jax.random.key(1), z, labels, train=False)
      images = g.apply(g_vars, z, labels, train=False)
      d_vars = d.init(jax.random.key(2), images, labels, train=False)
      return d.apply(d_vars, images, labels, train=False)
    return jax.eval_shape(run, z, labels)

  chex.assert_shape(players(d), (BATCH,))
  _, d = models.build("mlp", image_shape=SHAPE, num_classes=NUM_CLASSES, conditioning="acgan",
                      minibatch_std=True, **_TINY["mlp"])
  _, class_logits = players(d)
  chex.assert_shape(class_logits, (BATCH, NUM_CLASSES))
  # The conditional generator's labels reach its BatchNorms through the latent wrapper:
  # with a shift per class (beta[y] = y / 10), other labels give other images.
  g_vars = g.init(jax.random.key(1), z, labels, train=False)
  g_vars = {**g_vars, "params": jax.tree_util.tree_map_with_path(
      lambda path, a: a + jnp.arange(NUM_CLASSES)[:, None] / 10
      if any(getattr(k, "key", None) == "beta" for k in path) else a, g_vars["params"])}
  generate = jax.jit(lambda y: g.apply(g_vars, z, y, train=False))
  assert np.any(np.asarray(generate(labels)) != np.asarray(generate(labels[::-1])))


def test_spectral_norm_reaches_the_class_heads():
  for conditioning, layer in (("projection", "class_embedding/embedding"),
                              ("acgan", "class_logits/kernel")):
    d = DCGANDiscriminator(widths=(4, 8), dropout_rate=0.0, spectral_norm=True,
                           num_classes=NUM_CLASSES, conditioning=conditioning)
    variables = jax.eval_shape(lambda: d.init(jax.random.key(0), jnp.zeros((1,) + SHAPE),
                                              jnp.zeros((1,), jnp.int32), train=False))
    names = {k for stats in variables["batch_stats"].values() for k in stats}
    assert f"{layer}/u" in names, names


def test_build_rejects_combinations_that_do_not_exist():
  def build(name, **kwargs):
    shape = (2,) if name.startswith("toy") else SHAPE
    widths = _TINY.get(name, dict(g_widths=(8,), d_widths=(8,), dropout_rate=0.0))
    return models.build(name, image_shape=shape, **{**widths, **kwargs})

  for name in ("mlp", "toy", "toy_relu"):
    with pytest.raises(ConfigError, match="model.conditioning.*not built for model"):
      build(name, num_classes=NUM_CLASSES, conditioning="projection")
  for name in ("toy", "toy_relu"):
    with pytest.raises(ConfigError, match="model.conditioning.*not built for model"):
      build(name, num_classes=NUM_CLASSES, conditioning="acgan")
  with pytest.raises(ConfigError, match="model.conditioning.*not an option"):
    build("dcgan", num_classes=NUM_CLASSES, conditioning="auxiliary")
  for conditioning in ("projection", "acgan"):
    with pytest.raises(ConfigError, match="model.pack"):
      build("dcgan", num_classes=NUM_CLASSES, conditioning=conditioning, pack=2)
  with pytest.raises(ConfigError, match="model.spectral_norm"):
    build("toy", spectral_norm=True)
  with pytest.raises(ConfigError, match="model.conditioning"):  # A head needs classes.
    DCGANDiscriminator(conditioning="projection").init(
        jax.random.key(0), jnp.zeros((1,) + SHAPE), jnp.zeros((1,), jnp.int32), train=False)
  # Without classes the conditioning is not read: the players stay unconditional.
  g, d = build("dcgan", conditioning="projection")
  assert isinstance(d, DCGANDiscriminator) and d.conditioning == "none" and d.num_classes == 0
  # Spectral normalisation as an option of dcgan and mlp, built into resnet.
  for name in ("dcgan", "mlp"):
    assert build(name, spectral_norm=True)[1].spectral_norm
    assert not build(name)[1].spectral_norm
  assert build("resnet")[1].spectral_norm
  # concat everywhere, as before.
  g, d = build("mlp", num_classes=NUM_CLASSES)
  assert isinstance(g, LabelConcatGenerator) and isinstance(d, LabelConcatDiscriminator)
  assert isinstance(d.inner, MLPDiscriminator) and d.inner.conditioning == "none"
