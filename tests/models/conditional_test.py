"""Label-conditional players (gan.models.conditional): G(z, y) and D(x, y) for every family."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan import models
from gan.errors import ConfigError
from gan.models.conditional import (EMBEDDING_DIM, LabelConcatDiscriminator,
                                    LabelConcatGenerator)

NUM_CLASSES = 10
NOISE_DIM = 8
BATCH = 4

# Tiny members of each family, and the shape of one sample.
_FAMILIES = {
    "mlp": dict(image_shape=(28, 28, 1), g_widths=(16,), d_widths=(16,)),
    "dcgan": dict(image_shape=(28, 28, 1), g_widths=(8, 4, 4), d_widths=(4, 8)),
    "toy": dict(image_shape=(2,), g_widths=(8,), d_widths=(8,)),
}


def _apply(module):
  """Jitted `module(variables, inputs, labels)` in inference mode."""
  return jax.jit(lambda variables, inputs, labels: module.apply(variables, inputs, labels,
                                                               train=False))


@pytest.fixture(scope="module", params=sorted(_FAMILIES))
def family(request):
  """(name, G, D, G variables, D variables, z, x, jitted G, jitted D) of one family."""
  name = request.param
  shape = _FAMILIES[name]["image_shape"]
  g, d = models.build(name, dropout_rate=0.0, num_classes=NUM_CLASSES, **_FAMILIES[name])
  z = jax.random.normal(jax.random.key(0), (BATCH, NOISE_DIM))
  x = jax.random.uniform(jax.random.key(1), (BATCH,) + shape, minval=-1.0, maxval=1.0)
  labels = jnp.zeros((BATCH,), jnp.int32)
  init = jax.jit(lambda key, *args, module: module.init(key, *args, train=False),
                 static_argnames="module")
  g_vars = init(jax.random.key(2), z, labels, module=g)
  d_vars = init(jax.random.key(3), x, labels, module=d)
  return name, g, d, g_vars, d_vars, z, x, _apply(g), _apply(d)


def test_build_wraps_both_players(family):
  _, g, d, *_ = family
  assert isinstance(g, LabelConcatGenerator) and g.num_classes == NUM_CLASSES
  assert isinstance(d, LabelConcatDiscriminator) and d.num_classes == NUM_CLASSES


def test_label_embeddings_are_parameters(family):
  name, _, _, g_vars, d_vars, _, x, *_ = family
  g_embedding = g_vars["params"]["label_embedding"]["embedding"]
  chex.assert_shape(g_embedding, (NUM_CLASSES, EMBEDDING_DIM))
  # D sees the label as one more plane of x's shape: H x W values per class for
  # images, one value for points.
  plane = int(np.prod(x.shape[1:-1]))
  chex.assert_shape(d_vars["params"]["label_plane"]["embedding"], (NUM_CLASSES, plane))
  assert set(g_vars["params"]) == {"label_embedding", "inner"}
  assert set(d_vars["params"]) == {"label_plane", "inner"}
  if name == "dcgan":  # The label plane is one more input channel of D's first layer.
    chex.assert_shape(d_vars["params"]["inner"]["Conv_0"]["kernel"], (5, 5, 1 + 1, 4))
  # G's inner network takes noise and embedding side by side.
  first = jax.tree.leaves(g_vars["params"]["inner"])
  assert any(leaf.shape[0] == NOISE_DIM + EMBEDDING_DIM for leaf in first if leaf.ndim == 2)


def test_shapes(family):
  _, _, _, g_vars, d_vars, z, x, generate, judge = family
  labels = jnp.arange(BATCH) % NUM_CLASSES
  samples = generate(g_vars, z, labels)
  chex.assert_shape(samples, x.shape)
  assert samples.dtype == jnp.float32
  chex.assert_shape(judge(d_vars, x, labels), (BATCH,))
  chex.assert_shape(judge(d_vars, samples, labels), (BATCH,))


def test_different_labels_give_different_outputs(family):
  _, _, _, g_vars, d_vars, z, x, generate, judge = family
  # Every label of the batch differs from its counterpart: every row must change.
  a, b = jnp.arange(BATCH), jnp.arange(BATCH) + BATCH
  same_z = jnp.broadcast_to(z[:1], z.shape)
  rows_a, rows_b = generate(g_vars, same_z, a), generate(g_vars, same_z, b)
  assert np.all(np.any(np.abs(np.asarray(rows_a - rows_b)).reshape(BATCH, -1) > 0, axis=1))
  # One z, different labels: different samples within the batch.
  assert not np.allclose(rows_a[0], rows_a[1])
  # The same label twice: the same sample (the label is all that changed).
  np.testing.assert_array_equal(rows_a, generate(g_vars, same_z, a))
  logits_a, logits_b = judge(d_vars, x, a), judge(d_vars, x, b)
  assert np.all(np.asarray(logits_a) != np.asarray(logits_b))


def test_conditioning_must_be_known():
  with pytest.raises(ConfigError, match="model.conditioning"):
    models.build("mlp", image_shape=(28, 28, 1), g_widths=(8,), d_widths=(8,),
                 num_classes=NUM_CLASSES, conditioning="projection")
  # Without classes the players stay unconditional.
  g, d = models.build("mlp", image_shape=(28, 28, 1), g_widths=(8,), d_widths=(8,))
  assert not isinstance(g, LabelConcatGenerator)
  assert not isinstance(d, LabelConcatDiscriminator)
