"""gan: Generative Adversarial Networks in JAX/Flax.

One training program for every kind of model (`gan.program`), built from a config by
one builder (`gan.build`): a task (`gan.tasks`) brings its models (`gan.models`),
losses (`gan.losses`), pure step and sampler; data (`gan.data`), shardings, the
jitted step, checkpoints, resume, fault handling, logging and evaluation are shared.

Importing `gan` changes nothing global: the XLA:CPU lowerings of `gan.backends.cpu`
are applied by the builder, for the runs it builds on CPU.
"""

__version__ = "0.2.0"
