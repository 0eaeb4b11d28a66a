"""Device mesh, shardings and multi-process start-up for data parallelism.

One mesh axis, `data`, over every device of every process. The state is
replicated; each global batch of shape (d_steps, B, H, W, C) is split along B. The
jitted step sees global arrays, so its reductions (loss means, BatchNorm
statistics) are over the whole global batch, whatever the number of devices.
"""

import os
from typing import Any, Optional

import jax
import numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P

from gan.errors import ConfigError

DATA_AXIS = "data"


def initialize_distributed(coordinator_address: Optional[str] = None,
                           num_processes: Optional[int] = None,
                           process_id: Optional[int] = None) -> None:
  """Starts JAX's multi-process runtime (`jax.distributed.initialize`).

  Arguments left as None come from the environment: JAX_COORDINATOR_ADDRESS,
  JAX_NUM_PROCESSES and JAX_PROCESS_ID when set, else JAX's cluster detection
  (SLURM, Open MPI, TPU pod slices, GKE). Call it before any other JAX function. On
  CPU, collectives between processes go through gloo.
  """
  if num_processes is None and os.environ.get("JAX_NUM_PROCESSES"):
    num_processes = int(os.environ["JAX_NUM_PROCESSES"])
  if process_id is None and os.environ.get("JAX_PROCESS_ID"):
    process_id = int(os.environ["JAX_PROCESS_ID"])
  platforms = str(jax.config.jax_platforms or "")
  if not platforms or "cpu" in platforms:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes, process_id=process_id)


def create_mesh(devices: Optional[list[Any]] = None) -> jax.sharding.Mesh:
  """A 1-D `data` mesh over `devices` (default: all devices of all processes)."""
  devices = jax.devices() if devices is None else devices
  return jax.make_mesh((len(devices),), (DATA_AXIS,), axis_types=(AxisType.Auto,),
                       devices=devices)


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
  """The sharding of the state: a full copy on every device."""
  return NamedSharding(mesh, P())


def batch_sharding(mesh: jax.sharding.Mesh, batch_axis: int = 1) -> NamedSharding:
  """The sharding of a batch whose axis `batch_axis` is split over the devices."""
  return NamedSharding(mesh, P(*([None] * batch_axis), DATA_AXIS))


def check_batch_size(batch_size: int, mesh: jax.sharding.Mesh) -> None:
  """Raises a `ConfigError` unless `batch_size` splits evenly over the devices."""
  n = mesh.devices.size
  if batch_size % n:
    raise ConfigError("batch_size", batch_size, f"is not divisible by the {n} devices; use a "
                      f"multiple of {n} (e.g. {max(n, batch_size // n * n)})")


def global_batch(local_batch: np.ndarray, mesh: jax.sharding.Mesh,
                 batch_axis: int = 1) -> jax.Array:
  """Assembles the global batch from each process's slice of it (its devices' rows)."""
  return jax.make_array_from_process_local_data(batch_sharding(mesh, batch_axis), local_batch)


def replicate(tree: Any, mesh: jax.sharding.Mesh) -> Any:
  """Places a pytree on every device of the mesh."""
  return jax.device_put(tree, replicated(mesh))


def barrier(name: str, timeout_s: int = 3600) -> None:
  """Waits until every process has reached the barrier `name` (unique per use).

  A barrier of JAX's coordination service, not a device collective: on CPU, gloo
  gives the processes of a collective only 30 s to meet when it first sets up,
  less than a compilation can take on a loaded host.
  """
  if jax.process_count() == 1:
    return
  from orbax.checkpoint import multihost  # pylint: disable=g-import-not-at-top
  multihost.get_jax_distributed_client().wait_at_barrier(name, timeout_in_ms=timeout_s * 1000)
