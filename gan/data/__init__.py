"""Data: data sets, the batch of every step from (seed, step), sources drawn on the device.

`load(config.dataset)` opens the data of a run (`gan.data.datasets` for image data
sets in memory or streamed from disk; `mixture:*` and `stacked_mnist:*` drawn on the
device; `paired:*`, `unpaired:*` and translation `.npz` files from `gan.data.pairs`),
`spec_of` describes it for the builder, and `batches_for` gives the run's
batch source (`gan.data.batches`).
"""

from gan.data.batches import (DataSpec, DeviceBatches, HostBatches, MixtureData,
                              StackedMNISTData, UnpairedBatches, batch_indices, batches_for,
                              load, spec_of)
from gan.data.datasets import (OFFLINE_NAMES, TFDS_NAMES, TFDS_SOURCE_PREFIX, ImageDataset,
                               RowArray, from_arrays, load_dataset, write_npy_dir)
from gan.data.pairs import (EDGE_THRESHOLD, PairedDataset, UnpairedDataset, downsample,
                            edge_map, from_domains, from_pairs, greyscale, mnist_m)

__all__ = [
    "DataSpec", "DeviceBatches", "EDGE_THRESHOLD", "HostBatches", "ImageDataset",
    "MixtureData", "OFFLINE_NAMES", "PairedDataset", "RowArray", "StackedMNISTData",
    "TFDS_NAMES", "TFDS_SOURCE_PREFIX", "UnpairedBatches", "UnpairedDataset", "batch_indices",
    "batches_for", "downsample", "edge_map", "from_arrays", "from_domains", "from_pairs",
    "greyscale", "load", "load_dataset", "mnist_m", "spec_of", "write_npy_dir",
]
