"""The SNGAN line in the GAN task: spectral-norm state, DiffAugment, ACGAN, and the program.

The step keeps D's power-iteration vectors in D's `batch_stats` (one iteration per D
update, on the real batch), so they are checkpointed, resumed and sharded like the
rest of the state; DiffAugment draws from its own keys; an auxiliary-classifier D adds
its cross-entropy to both players. The conditional SN-ResNet (projection D,
conditional BatchNorm in G) trains through the program: 2 + 2 resumed steps equal 4,
and 4 fake devices equal 1, vectors included.
"""


import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import conftest
from gan import build, losses, rundir
from gan.cli import info
from gan.errors import ConfigError
from gan.tasks import gan as gan_task


def _tiny(dataset, **overrides):
  """The tiny MLP GAN of the in-process tests (compiles in seconds), with overrides."""
  return conftest.tiny_mlp_config(dataset, **overrides)


def _one_step(config):
  """(run, the step-0 state as numpy, (state after one step, metrics)); the step
  donates its input state, so the copy is taken first."""
  run = build.build(config)
  state = run.init_state()
  before = jax.tree.map(np.asarray, state)
  return run, before, run.step(state, run.batch(0))


def _flat(tree):
  return {jax.tree_util.keystr(p): np.asarray(v)
          for p, v in jax.tree_util.tree_leaves_with_path(tree)}


def test_spectral_norm_vectors_are_d_state_and_move_once_per_d_update(digits):
  config = _tiny(digits, **{"model.spectral_norm": True, "optim.d_steps": 2})
  run, state, (new, metrics) = _one_step(config)
  before, after = _flat(state.discriminator.batch_stats), _flat(new.discriminator.batch_stats)
  assert before and sorted(before) == sorted(after)
  vectors = [n for n in before if n.endswith("/u']")]
  assert vectors, sorted(before)
  assert all(not np.array_equal(before[n], after[n]) for n in vectors)
  # Without spectral norm D keeps no statistics, and the metrics are the usual ones.
  _, plain, (plain_new, plain_metrics) = _one_step(_tiny(digits))
  assert _flat(plain_new.discriminator.batch_stats) == {}
  assert set(metrics) == set(plain_metrics)


def test_diffaugment_changes_what_d_sees_and_is_a_function_of_the_seed(digits):
  base = _tiny(digits)
  aug = conftest.set_fields(_tiny(digits), **{"loss.augment": "translation,cutout"})
  _, _, (plain, _) = _one_step(base)
  _, _, (once, m1) = _one_step(aug)
  _, _, (twice, m2) = _one_step(aug)
  for a, b in zip(jax.tree.leaves(once), jax.tree.leaves(twice), strict=True):
    np.testing.assert_array_equal(a, b)
  assert m1["d_loss"] == m2["d_loss"]
  assert not np.array_equal(np.asarray(plain.discriminator.params["Dense_0"]["kernel"]),
                            np.asarray(once.discriminator.params["Dense_0"]["kernel"]))
  with pytest.raises(ConfigError, match="loss.augment"):
    build.build(conftest.set_fields(_tiny(digits), **{"loss.augment": "flip"}))


def test_step_keys_without_augmentation_are_those_of_before():
  key = jax.random.key(3)
  plain = gan_task.step_keys(key, jnp.int32(5), 2)
  assert sorted(plain) == ["d_dropout", "d_noise", "d_penalty", "g_dropout", "g_noise"]
  # The keys of a run without augmentation: one split into 3 * 2 + 2, as before.
  keys = jax.random.split(jax.random.fold_in(key, 5), 8)
  np.testing.assert_array_equal(jax.random.key_data(plain["d_noise"]),
                                jax.random.key_data(keys[0:2]))
  np.testing.assert_array_equal(jax.random.key_data(plain["g_dropout"]),
                                jax.random.key_data(keys[7]))
  augmented = gan_task.step_keys(key, jnp.int32(5), 2, augment=True)
  assert {"d_augment", "g_augment"} <= set(augmented)
  assert augmented["d_augment"].shape == (2,) and augmented["g_augment"].shape == ()


def test_acgan_adds_the_classifier_loss_to_both_players(digits):
  config = _tiny(digits, task="conditional_gan", **{"model.conditioning": "acgan"})
  run, state, (new, metrics) = _one_step(config)
  assert {"d_class_loss", "g_class_loss", "d_class_acc_real"} <= set(metrics)
  # At initialisation the classifier is near uniform: each cross-entropy near log 10.
  assert abs(float(metrics["g_class_loss"]) - np.log(10)) < 1.0
  assert abs(float(metrics["d_class_loss"]) - 2 * np.log(10)) < 2.0
  # Weight 0: the same D without the auxiliary term; G's update differs.
  zero = conftest.set_fields(config, **{"loss.aux_class_weight": 0.0})
  _, _, (new_zero, metrics_zero) = _one_step(zero)
  assert "d_class_loss" not in metrics_zero
  g = lambda s: np.concatenate([np.ravel(x) for x in jax.tree.leaves(s.generator.params)])
  assert not np.array_equal(g(new), g(new_zero))
  # The D loss is the plain loss plus the two cross-entropies (weight 1).
  assert float(metrics["d_class_loss"]) > 0


def test_auxiliary_classifier_loss_is_softmax_cross_entropy():
  logits = jnp.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
  labels = jnp.array([0, 2])
  expected = np.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
  np.testing.assert_allclose(losses.auxiliary_classifier_loss(class_logits=logits,
                                                               labels=labels), expected,
                             rtol=1e-6)


# ------------------------------------------- the conditional SN-ResNet, through the program
#
# On the 28x28 MNIST digits (the family's 2-up-block form) and with XLA's own lowering
# (run.backend=plain): the properties tested do not depend on either, and the program
# compiles in a third of the time of the CIFAR-sized one with the CPU lowering.

RESNET_FIELDS = {"num_steps": 4, "batch_size": 8, "model.g_widths": (8,),
                 "model.d_widths": (8,), "model.noise_dim": 16, "run.checkpoint_every": 2,
                 "run.sample_every": 0, "run.log_every": 2, "run.max_train_seconds": 0.0,
                 "run.progress_bar": False, "run.backend": "plain"}


def _resnet_config(dataset, num_steps):
  from experiments import cgan_cifar10  # pylint: disable=g-import-not-at-top
  return conftest.set_fields(cgan_cifar10.get_config(), dataset=dataset,
                             **{**RESNET_FIELDS, "num_steps": num_steps})


@pytest.fixture(scope="module")
def resnet_runs(tmp_path_factory, digits):
  """The tiny conditional SN-ResNet with DiffAugment and EMA: 4 steps, and 2 resumed to 4."""
  root = tmp_path_factory.mktemp("sngan")
  conftest.train_in_subprocess([(_resnet_config(digits, 4), root / "whole"),
                                (_resnet_config(digits, 2), root / "resumed"),
                                (_resnet_config(digits, 4), root / "resumed")])
  return root


@pytest.mark.slow
def test_conditional_sn_resnet_resumes_bit_for_bit_vectors_included(resnet_runs):
  whole, resumed = (info.workdir_info(str(resnet_runs / name))
                    for name in ("whole", "resumed"))
  assert whole[0]["digest"] == resumed[0]["digest"]
  chex.assert_trees_all_equal(whole[1], resumed[1])
  stats = rundir.flatten_with_paths(whole[1]["discriminator"]["batch_stats"])
  assert any(name.endswith("/u") for name in stats), sorted(stats)[:5]
  g_stats = rundir.flatten_with_paths(whole[1]["generator"]["params"])
  assert any("embed" in name.lower() for name in g_stats)  # Conditional BatchNorm's.


@pytest.mark.slow
def test_conditional_sn_resnet_on_four_devices_equals_one(resnet_runs, digits, tmp_path):
  """Equal within float tolerance, the spectral-norm vectors and BatchNorm statistics
  included. The generator's parameters get a looser bound: a convolution's bias right
  before a BatchNorm has a gradient of rounding noise only (the norm removes it), and
  Adam with beta1 = 0 turns any nonzero gradient into a step of about the learning rate
  (1e-4), so those biases (and what they feed: G's BatchNorm statistics) differ by up
  to a few steps' worth, while the samples stay within one grey level."""
  workdir = tmp_path / "four"
  flags = [f"--config.dataset={digits}"] + [
      f"--config.{k}={v}".replace(" ", "") for k, v in RESNET_FIELDS.items()]
  result = conftest.run_module("experiments.cgan_cifar10", f"--workdir={workdir}", *flags,
                               devices=4)
  assert result.returncode == 0, result.stderr[-3000:]
  one = rundir.flatten_with_paths(info.workdir_info(str(resnet_runs / "whole"))[1])
  four = rundir.flatten_with_paths(info.workdir_info(str(workdir))[1])
  assert sorted(one) == sorted(four)
  assert any("batch_stats" in n and n.endswith("/u") for n in one)
  for name in one:
    loose = name.startswith(("generator/", "ema_params"))  # G and what G's outputs feed.
    np.testing.assert_allclose(np.asarray(four[name], np.float64),
                               np.asarray(one[name], np.float64), rtol=1e-3,
                               atol=2e-3 if loose else 1e-4, err_msg=name)
  np.testing.assert_allclose(conftest.run_samples(workdir),
                             conftest.run_samples(resnet_runs / "whole"),
                             atol=2 / 255)  # Within a grey level.
