"""Where evaluation caches live, and how a network's weights are named (their checksum).

Both the extractors (`gan.eval.features`) and the Inception network
(`gan.eval.inception`) need these; they live here so that neither imports the other.
"""

import hashlib
import os
from typing import Any

import jax
import numpy as np

CACHE_ENV = "GAN_CACHE_DIR"


def params_checksum(params: Any) -> str:
  """sha256 of a pytree of arrays, independent of dict insertion order.

  sha256( concat over leaves in sorted path order of
          "path|dtype|shape|" + the leaf's C-order bytes ),

  path the leaf's keys joined by "/" (e.g. `Dense_0/kernel`). Two pytrees have
  equal checksums exactly when they hold the same arrays, bit for bit, under the
  same names (up to sha256 collisions).

  Args:
    params: a pytree (nested dicts) of arrays.

  Returns:
    64 hex digits.
  """
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  named = {}
  for path, leaf in leaves:
    name = "/".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k))))
                    for k in path)
    named[name] = np.ascontiguousarray(np.asarray(leaf))
  digest = hashlib.sha256()
  for name in sorted(named):
    array = named[name]
    digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def cache_root() -> str:
  """`$GAN_CACHE_DIR`, else `$XDG_CACHE_HOME/gan` (default `~/.cache/gan`)."""
  if os.environ.get(CACHE_ENV):
    return os.environ[CACHE_ENV]
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "gan")
