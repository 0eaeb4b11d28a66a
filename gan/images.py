"""Images between their three forms: uint8 data, [-1, 1] floats for the models, PNG grids."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image


def to_float(images: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [-1, 1], x / 127.5 - 1; float input is taken as already scaled."""
  if jnp.issubdtype(images.dtype, jnp.integer):
    return images.astype(jnp.float32) / 127.5 - 1.0
  return images.astype(jnp.float32)


def to_uint8(images: np.ndarray) -> np.ndarray:
  """[-1, 1] float images -> uint8 [0, 255] (clipped, rounded)."""
  return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_grid(images: np.ndarray, *, num_cols: int = 0, padding: int = 2) -> np.ndarray:
  """Tiles (N, H, W, C) images in [-1, 1] into one uint8 (rows*H, cols*W, C) image."""
  images = to_uint8(images)
  n, h, w, c = images.shape
  cols = num_cols or int(math.ceil(math.sqrt(n)))
  rows = int(math.ceil(n / cols))
  grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), 255,
                 np.uint8)
  for i in range(n):
    r, q = divmod(i, cols)
    y, x = padding + r * (h + padding), padding + q * (w + padding)
    grid[y:y + h, x:x + w] = images[i]
  return grid


def save_grid(images: np.ndarray, path: str, *, num_cols: int = 0, scale: int = 2) -> str:
  """Writes a grid of (N, H, W, C) images in [-1, 1] to `path` as PNG; returns the path."""
  grid = make_grid(images, num_cols=num_cols)
  if grid.shape[-1] == 1:
    grid = grid[..., 0]
  picture = Image.fromarray(grid)
  if scale > 1:
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  picture.save(path)
  return path
