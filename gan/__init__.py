"""gan: Generative Adversarial Networks in JAX/Flax.

Pure Flax generators and discriminators (`gan.models`), loss variants as pure
functions (`gan.losses`), one pure alternating update (`gan.train_step`), and the
training loop that threads explicit keys through it (`gan.train`).
"""

__version__ = "0.1.0"
