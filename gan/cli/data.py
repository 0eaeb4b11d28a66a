r"""Writes any data set the config can name as a directory of .npy files (streamed later).

  python -m gan.cli.data convert ../shared/data/mnist.npz /data/mnist_npy
  python -m gan.cli.data convert tfds_source:imagenet_resized/64x64 /data/in64 --tfds_data_dir=D

The copy goes in chunks of 4,096 rows (`gan.data.write_npy_dir`), so its source need
not fit in memory; train on it with `--config.dataset=/data/mnist_npy`.
"""

import sys
from typing import Optional

from absl import flags

from gan.cli import run_cli
from gan.errors import UserError


def main(argv: list[str], tfds_data_dir: Optional[str] = None) -> None:
  """`convert SRC DST_DIR`: writes data set SRC as a .npy directory."""
  if len(argv) != 4 or argv[1] != "convert":
    raise UserError(f"usage: python -m gan.cli.data convert SRC DST_DIR [--tfds_data_dir=D] "
                    f"(SRC: any --config.dataset value of an image data set), got {argv[1:]}")
  from gan import data  # pylint: disable=g-import-not-at-top
  data.datasets.check_new_directory(argv[3])  # Before reading SRC, which may take long.
  dataset = data.load_dataset(argv[2], tfds_data_dir=tfds_data_dir)
  data.write_npy_dir(dataset, argv[3])
  print(f"wrote {dataset.num_train} train and {len(dataset.test_images)} test images "
        f"{dataset.image_shape} to {argv[3]}; train on them with --config.dataset={argv[3]}",
        file=sys.stderr)


if __name__ == "__main__":
  _TFDS_DATA_DIR = flags.DEFINE_string("tfds_data_dir", None, "TFDS data_dir of SRC.")
  run_cli(lambda argv: main(argv, _TFDS_DATA_DIR.value))
