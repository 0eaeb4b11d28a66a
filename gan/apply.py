"""Using a trained translator or upscaler: images in, images out, from Python or the CLI.

  translator = Translator.load("runs/srgan_mnist")          # newest checkpoint
  big = translator(small)                                    # uint8 (N, 7, 7, 1) -> (N, 28, 28, 1)
  translator = Translator.load("runs/cyclegan", direction="b_to_a")

`read_images(path)` reads a PNG, a directory of PNGs (sorted by name) or an `.npz`
(array `x`, else its only or first array) as uint8 NHWC; `write_images` writes the
results in the same form. `python -m gan.cli.translate` is the command around them.
"""

import dataclasses
import os
from typing import Any, Optional

import numpy as np
from PIL import Image

from gan.errors import UserError

IMAGE_SUFFIXES = (".png",)
DIRECTIONS = ("a_to_b", "b_to_a")


@dataclasses.dataclass
class Translator:
  """A trained pix2pix, SRGAN or CycleGAN generator as a function of uint8 images.

  Attributes:
    run: the restored run (`gan.build.Run`, without its data).
    state: its checkpoint's state.
    field: the generator's input: `source` (pix2pix, SRGAN), `a` (CycleGAN A -> B) or
      `b` (B -> A).
    input_shape: the (H, W, C) the generator takes.
  """

  run: Any
  state: Any
  field: str
  input_shape: tuple[int, int, int]

  @classmethod
  def load(cls, workdir: str, *, step: Optional[int] = None,
           direction: str = "a_to_b") -> "Translator":
    """The generator of the run in `workdir` (checkpoint `step`, default the newest)."""
    from gan import rundir  # pylint: disable=g-import-not-at-top
    from gan.eval import translation  # pylint: disable=g-import-not-at-top
    task = rundir.saved_config_values(workdir).get("task")
    if task not in translation.TASKS:
      raise UserError(f"the run in {workdir!r} is a {task!r} run; translating images needs a "
                      f"pix2pix, srgan or cyclegan run")
    if direction not in DIRECTIONS:
      raise UserError(f"direction={direction!r} is not a direction; choose one of "
                      f"{list(DIRECTIONS)}")
    run, state = rundir.restore(workdir, step)
    if task == "cyclegan":
      field = "a" if direction == "a_to_b" else "b"
      shape = run.task.parts["shape_a" if field == "a" else "shape_b"]
    else:
      field, shape = "source", run.task.parts["source_shape"]
    return cls(run=run, state=state, field=field, input_shape=tuple(shape))

  def check(self, images: np.ndarray, what: str = "the images") -> np.ndarray:
    """`images` as uint8 NHWC, or a `UserError` saying what shape the model takes."""
    images = np.asarray(images)
    if images.ndim == 3 and self.input_shape[-1] == 1:
      images = images[..., None]
    if images.ndim != 4 or tuple(images.shape[1:]) != self.input_shape:
      raise UserError(f"{what} have shape {tuple(images.shape[1:])} per image, but this model "
                      f"takes {self.input_shape} (height, width, channels); resize or convert "
                      f"them first")
    if images.dtype != np.uint8:
      raise UserError(f"{what} have dtype {images.dtype}; give uint8 images in [0, 255]")
    if not len(images):
      raise UserError(f"{what} hold no image; give at least one")
    return images

  def __call__(self, images: np.ndarray) -> np.ndarray:
    """The translations of uint8 (N, H, W, C) `images`, uint8."""
    from gan.eval import translation  # pylint: disable=g-import-not-at-top
    return translation.apply_generator(self.run, self.state, self.field, self.check(images),
                                       chunk=min(500, len(images)))


def _read_png(path: str) -> np.ndarray:
  try:
    with Image.open(path) as picture:
      grey = picture.mode in ("1", "L", "LA", "I", "I;16")
      array = np.asarray(picture.convert("L" if grey else "RGB"))
  except OSError as error:
    raise UserError(f"cannot read {path} as an image ({error}); give PNG files") from error
  return array[..., None] if array.ndim == 2 else array


def read_images(path: str) -> np.ndarray:
  """uint8 NHWC images from a PNG, a directory of PNGs or an `.npz` (see the module)."""
  if os.path.isdir(path):
    names = sorted(n for n in os.listdir(path) if n.lower().endswith(IMAGE_SUFFIXES))
    if not names:
      raise UserError(f"the directory {path!r} holds no .png images; give a directory of PNGs, "
                      f"a .png or an .npz")
    arrays = [_read_png(os.path.join(path, n)) for n in names]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
      raise UserError(f"the images in {path!r} differ in shape ({sorted(shapes)}); give images "
                      f"of one shape")
    return np.stack(arrays)
  if not os.path.exists(path):
    raise UserError(f"input {path!r} does not exist; give a .png, a directory of PNGs or an .npz")
  if path.endswith(".npz"):
    try:
      with np.load(path) as archive:
        names = list(archive.files)
        if not names:
          raise UserError(f"{path} holds no arrays; save the images as x")
        return np.asarray(archive["x" if "x" in names else names[0]])
    except (OSError, ValueError) as error:
      raise UserError(f"cannot read {path} as an .npz ({error})") from error
  if path.lower().endswith(IMAGE_SUFFIXES):
    return _read_png(path)[None]
  raise UserError(f"input {path!r} is not a .png, a directory or an .npz")


def output_names(path: str, count: int) -> list[str]:
  """The file names a directory input's outputs take (its PNGs' names, sorted)."""
  names = sorted(n for n in os.listdir(path) if n.lower().endswith(IMAGE_SUFFIXES))
  return names[:count]


def write_images(images: np.ndarray, out: str, *, names: Optional[list[str]] = None) -> list[str]:
  """Writes uint8 NHWC `images` to `out`: an `.npz` (as `x`), a `.png` (one image) or a
  directory (one PNG per image, `names` or 000000.png ...); returns the paths written."""
  def save_png(image, path):
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)

  if out.endswith(".npz"):
    np.savez(out, x=images)
    return [out]
  if out.lower().endswith(IMAGE_SUFFIXES):
    if len(images) != 1:
      raise UserError(f"--out={out!r} is one PNG but there are {len(images)} images; give a "
                      f"directory or an .npz")
    save_png(images[0], out)
    return [out]
  os.makedirs(out, exist_ok=True)
  names = names or [f"{i:06d}.png" for i in range(len(images))]
  paths = [os.path.join(out, name) for name in names]
  for image, path in zip(images, paths):
    save_png(image, path)
  return paths
