"""gan: Generative Adversarial Networks in JAX/Flax.

Pure Flax generators and discriminators (`gan.models`), loss variants as pure
functions (`gan.losses`), one pure alternating update (`gan.train_step`), and the
training loop that threads explicit keys through it (`gan.train`).

Importing `gan` lowers JAX's Threefry PRNG on CPU without its rolled loop
(`gan.prng`): the same random bits, a faster step.
"""

from gan import prng as _prng

__version__ = "0.1.0"

_prng.register_unrolled_cpu_lowering()
