r"""The benchmark's GAN step in TensorFlow / Keras: `tf.function`, optionally XLA.

  python -m experiments.references.tf_gan --model=dcgan --impl=function
  python -m experiments.references.tf_gan --model=mlp --impl=xla --batch_size=64

prints one JSON line: steps/s and images/s (median and spread over `--rounds` x
`--repeats`), first-step (tracing) time and peak RSS. `experiments.benchmark` runs
it with `--serve` (see `experiments.references`). `--impl=xla` is
`tf.function(jit_compile=True)`.

The step is `gan.train_step`'s, operation for operation, for the non-saturating
loss with one D update per G update (see experiments/references/torch_gan.py for
the equations): the architectures of the TensorFlow DCGAN tutorial (and the MLP
of experiments/mlp_gan_mnist), NHWC and SAME padding as ours, weights from a
normal truncated at +-2 std with variance 1 / fan_in (Flax's `lecun_normal`,
fan_in = k*k*C_in for both convolutions), zero biases, BatchNorm momentum 0.99 and
epsilon 1e-5, Adam(2e-4, 0.5, 0.999, eps 1e-8), the same batch of float32 images
in [-1, 1] made once (no data loading is timed).

Where it differs from ours:
* The tutorial's step is simultaneous (one tape, both players updated from the
  same fake batch); this one is alternating, as ours: D first, then G against
  the updated D, each with its own noise.
* Keras's Adam adds epsilon to sqrt(v) before the bias correction of the step
  size (epsilon-hat form); optax adds it after. Same cost.
* BatchNorm moving averages are updated by the generator's call in the D update
  too (ours keeps only the G update's); the batch statistics used are the same.
* Metrics are the two losses only; random numbers come from TF's generator.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # pylint: disable=g-import-not-at-top
import keras  # pylint: disable=g-import-not-at-top
from keras import layers  # pylint: disable=g-import-not-at-top

from experiments import references as ref  # pylint: disable=g-import-not-at-top


def _kernel_init(fan_in: int):
  return keras.initializers.TruncatedNormal(stddev=ref.lecun_normal_std(fan_in))


def _batchnorm():
  return layers.BatchNormalization(momentum=ref.BATCHNORM_MOMENTUM,
                                   epsilon=ref.BATCHNORM_EPSILON)


def dcgan_generator(widths) -> keras.Model:
  """z -> Dense(7*7*w0) BN LReLU -> ConvT(w1, s1) BN LReLU -> ConvT(w2, s2) BN LReLU -> ConvT(1, s2) tanh."""
  slope = ref.LEAKY_SLOPE["dcgan"]
  z = keras.Input((ref.NOISE_DIM,))
  x = layers.Dense(7 * 7 * widths[0], use_bias=False, kernel_initializer=_kernel_init(ref.NOISE_DIM))(z)
  x = layers.LeakyReLU(slope)(_batchnorm()(x))
  x = layers.Reshape((7, 7, widths[0]))(x)
  features = list(widths[1:]) + [1]
  in_f = widths[0]
  for i, f in enumerate(features):
    stride = 2 if i >= len(features) - 2 else 1
    last = i == len(features) - 1
    x = layers.Conv2DTranspose(f, 5, strides=stride, padding="same", use_bias=last,
                               kernel_initializer=_kernel_init(25 * in_f))(x)
    x = layers.Activation("tanh")(x) if last else layers.LeakyReLU(slope)(_batchnorm()(x))
    in_f = f
  return keras.Model(z, x)


def dcgan_discriminator(widths, dropout: float) -> keras.Model:
  """x -> [Conv(w, 5x5, s2) LReLU Dropout] per width -> Flatten -> Dense(1)."""
  x_in = keras.Input(ref.IMAGE_SHAPE)
  x, c = x_in, ref.IMAGE_SHAPE[-1]
  for w in widths:
    x = layers.Conv2D(w, 5, strides=2, padding="same", kernel_initializer=_kernel_init(25 * c))(x)
    x = layers.LeakyReLU(ref.LEAKY_SLOPE["dcgan"])(x)
    if dropout > 0:
      x = layers.Dropout(dropout)(x)
    c = w
  x = layers.Flatten()(x)
  logit = layers.Dense(1, kernel_initializer=_kernel_init(x.shape[-1]))(x)
  return keras.Model(x_in, layers.Reshape(())(logit))


def mlp_generator(widths) -> keras.Model:
  """z -> [Dense ReLU] per width -> Dense(784) tanh -> 28x28x1."""
  z = keras.Input((ref.NOISE_DIM,))
  x, fan_in = z, ref.NOISE_DIM
  for w in widths:
    x = layers.Dense(w, activation="relu", kernel_initializer=_kernel_init(fan_in))(x)
    fan_in = w
  x = layers.Dense(784, activation="tanh", kernel_initializer=_kernel_init(fan_in))(x)
  return keras.Model(z, layers.Reshape(ref.IMAGE_SHAPE)(x))


def mlp_discriminator(widths) -> keras.Model:
  """x -> Flatten -> [Dense LReLU(0.2)] per width -> Dense(1)."""
  x_in = keras.Input(ref.IMAGE_SHAPE)
  x, fan_in = layers.Flatten()(x_in), 784
  for w in widths:
    x = layers.Dense(w, kernel_initializer=_kernel_init(fan_in))(x)
    x = layers.LeakyReLU(ref.LEAKY_SLOPE["mlp"])(x)
    fan_in = w
  logit = layers.Dense(1, kernel_initializer=_kernel_init(fan_in))(x)
  return keras.Model(x_in, layers.Reshape(())(logit))


def build_models(model: str, width_scale: float = 1.0):
  """(generator, discriminator) Keras models of `model`, widths scaled by `width_scale`."""
  g_widths, d_widths = ref.scaled_widths(model, width_scale)
  if model == "dcgan":
    return dcgan_generator(g_widths), dcgan_discriminator(d_widths, ref.DROPOUT["dcgan"])
  return mlp_generator(g_widths), mlp_discriminator(d_widths)


def _adam():
  return keras.optimizers.Adam(learning_rate=ref.LEARNING_RATE, beta_1=ref.BETA1,
                               beta_2=ref.BETA2, epsilon=ref.EPSILON)


def make_step(generator: keras.Model, discriminator: keras.Model, batch_size: int,
              jit_compile: bool = False):
  """One D update then one G update, as `gan.train_step`; a `tf.function(real)`."""
  g_opt, d_opt = _adam(), _adam()
  g_opt.build(generator.trainable_variables)
  d_opt.build(discriminator.trainable_variables)

  @tf.function(jit_compile=jit_compile)
  def step(real):
    fake = tf.stop_gradient(generator(tf.random.normal((batch_size, ref.NOISE_DIM)),
                                      training=True))
    with tf.GradientTape() as tape:
      d_loss = (tf.reduce_mean(tf.nn.softplus(-discriminator(real, training=True)))
                + tf.reduce_mean(tf.nn.softplus(discriminator(fake, training=True))))
    d_opt.apply_gradients(zip(tape.gradient(d_loss, discriminator.trainable_variables),
                              discriminator.trainable_variables))
    with tf.GradientTape() as tape:
      fake = generator(tf.random.normal((batch_size, ref.NOISE_DIM)), training=True)
      g_loss = tf.reduce_mean(tf.nn.softplus(-discriminator(fake, training=True)))
    g_opt.apply_gradients(zip(tape.gradient(g_loss, generator.trainable_variables),
                              generator.trainable_variables))
    return d_loss, g_loss

  return step


def main():
  args = ref.reference_arguments(__doc__.splitlines()[0], ("function", "xla")).parse_args()
  if args.threads:
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
  keras.utils.set_random_seed(args.seed)
  batch = args.batch_size or ref.default_batch_size(args.model)
  generator, discriminator = build_models(args.model, args.width_scale)
  step_fn = make_step(generator, discriminator, batch, jit_compile=args.impl == "xla")
  real = tf.random.uniform((batch,) + ref.IMAGE_SHAPE, -1.0, 1.0)
  last = {}

  def step():
    last["losses"] = step_fn(real)

  def sync():
    if "losses" in last:
      last["losses"][0].numpy()

  info = {"impl": "tf_function" if args.impl == "function" else "tf_xla",
          "framework": f"tensorflow {tf.__version__}",
          "params": int(sum(v.shape.num_elements() for m in (generator, discriminator)
                            for v in m.trainable_variables))}
  ref.run_worker(args, step, sync, info)


if __name__ == "__main__":
  main()
