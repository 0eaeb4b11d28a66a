"""Data: data sets, the batch of every step from (seed, step), sources drawn on the device.

`load(config.dataset)` opens the data of a run (`gan.data.datasets` for image data
sets in memory or streamed from disk; `mixture:*` and `stacked_mnist:*` drawn on the
device), `spec_of` describes it for the builder, and `batches_for` gives the run's
batch source (`gan.data.batches`).
"""

from gan.data.batches import (DataSpec, DeviceBatches, HostBatches, MixtureData,
                              StackedMNISTData, batch_indices, batches_for, load, spec_of)
from gan.data.datasets import (OFFLINE_NAMES, TFDS_NAMES, TFDS_SOURCE_PREFIX, ImageDataset,
                               RowArray, from_arrays, load_dataset, write_npy_dir)

__all__ = [
    "DataSpec", "DeviceBatches", "HostBatches", "ImageDataset", "MixtureData",
    "OFFLINE_NAMES", "RowArray", "StackedMNISTData", "TFDS_NAMES", "TFDS_SOURCE_PREFIX",
    "batch_indices", "batches_for", "from_arrays", "load", "load_dataset", "spec_of",
    "write_npy_dir",
]
