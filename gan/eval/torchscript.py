r"""Reads the tensors of a TorchScript (or `torch.save`) zip archive, without torch.

A TorchScript file is a zip archive with one top-level directory:

  <dir>/data.pkl        the module tree, pickled (protocol 2): attributes, and tensors
                        as calls of `torch._utils._rebuild_tensor_v2`,
  <dir>/data/<key>      the raw bytes of storage <key>, little-endian,
  <dir>/constants.pkl   the tensor constants of the compiled code (often empty),
  <dir>/code/...        the forward methods as TorchScript source,
  <dir>/byteorder       "little" or "big" (newer writers only).

A tensor is rebuilt from its storage as numpy does views:

  tensor[i_1, ..., i_n] = storage[offset + sum_k i_k * stride_k],

with `np.lib.stride_tricks.as_strided` (strides in bytes = stride_k * itemsize) and
then copied into a contiguous array.

Unpickling runs whatever callables a pickle names, so this reader's
`pickle.Unpickler.find_class` resolves only what a weights file needs: the
tensor-rebuild calls (to numpy functions of this module), the storage types (to
numpy dtypes), `collections.OrderedDict`, TorchScript's list builders, and the
`__torch__.*` module classes of the compiled code (to an inert placeholder that keeps
its attributes). Any other global is refused with a one-line `UserError` before it is
called. Nothing here imports torch.

References:
  PyTorch, torch/serialization.py (`_load`, `persistent_load`) and
  torch/csrc/jit/serialization/import.cpp (the TorchScript archive layout).
"""

import collections
import io
import os
import pickle
import zipfile
from typing import Any, BinaryIO, Union

import ml_dtypes
import numpy as np

from gan.errors import UserError

# torch.<Name>Storage -> numpy dtype (little-endian unless the archive says otherwise).
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
# TorchScript's list builders (torch.jit._pickle): each returns its one argument as a list.
LIST_BUILDERS = ("build_intlist", "build_floatlist", "build_doublelist", "build_boollist",
                 "build_tensorlist")


class ScriptObject:
  """An inert stand-in for a `__torch__.*` class: keeps the pickled attributes, runs nothing."""

  def __init__(self, *args):
    self.args = args
    self.state: dict[str, Any] = {}

  def __setstate__(self, state):
    self.state = dict(state) if isinstance(state, dict) else {"state": state}


class _StorageType:
  """What `torch.<Name>Storage` unpickles to: its numpy dtype."""

  def __init__(self, name: str):
    self.name, self.dtype = name, np.dtype(STORAGE_DTYPES[name])


def _rebuild_tensor(storage: np.ndarray, offset: int, size, stride, *unused) -> np.ndarray:
  """torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...) as a numpy copy."""
  del unused  # requires_grad, backward hooks, metadata.
  size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
  if len(size) != len(stride) or offset < 0 or any(s < 0 for s in size + stride):
    raise UserError(f"a tensor of size {size}, stride {stride}, offset {offset} is malformed; "
                    f"the file is damaged")
  if 0 not in size:
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
      raise UserError(f"a tensor of size {size} reaches element {last} of a storage of "
                      f"{storage.size}; the file is damaged or truncated")
  view = np.lib.stride_tricks.as_strided(
      storage[offset:], shape=size, strides=[s * storage.itemsize for s in stride],
      writeable=False)
  return np.array(view, order="C", copy=True)


def _rebuild_parameter(data: np.ndarray, *unused) -> np.ndarray:
  """torch._utils._rebuild_parameter(data, requires_grad, backward_hooks): the tensor."""
  del unused
  return data


def _as_list(values) -> list:
  return list(values)


class _RestrictedUnpickler(pickle.Unpickler):
  """Resolves only the globals of a weights file; storages come from the zip's data/ records."""

  def __init__(self, file: BinaryIO, archive: zipfile.ZipFile, prefix: str, byteorder: str,
               source: str):
    super().__init__(file)
    self._archive, self._prefix, self._source = archive, prefix, source
    self._byteorder = "<" if byteorder == "little" else ">"
    self._storages: dict[str, np.ndarray] = {}

  def find_class(self, module: str, name: str) -> Any:
    if module == "torch._utils" and name == "_rebuild_tensor_v2":
      return _rebuild_tensor
    if module == "torch._utils" and name == "_rebuild_parameter":
      return _rebuild_parameter
    if module == "collections" and name == "OrderedDict":
      return collections.OrderedDict
    if module == "torch" and name in STORAGE_DTYPES:
      return _StorageType(name)
    if module == "torch.jit._pickle" and name in LIST_BUILDERS:
      return _as_list
    if module == "__torch__" or module.startswith("__torch__."):
      return type(name, (ScriptObject,), {"__module__": module})
    raise UserError(f"{self._source} asks to unpickle {module}.{name}, which a weights file "
                    f"never needs; refusing to read it: use the original weights file")

  def persistent_load(self, pid: Any) -> np.ndarray:
    if (not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage"
        or not isinstance(pid[1], _StorageType)):
      raise UserError(f"{self._source} holds a persistent id {pid!r:.80} that is not a tensor "
                      f"storage; the file is damaged or not a torch archive")
    _, storage_type, key, _, numel = pid
    key = str(key)
    if key not in self._storages:
      record = f"{self._prefix}data/{key}"
      try:
        raw = self._archive.read(record)
      except KeyError as error:
        raise UserError(f"{self._source} has no record {record} for storage {key}; the file "
                        f"is damaged or truncated") from error
      dtype = storage_type.dtype.newbyteorder(self._byteorder)
      if len(raw) < int(numel) * dtype.itemsize:
        raise UserError(f"{self._source}: record {record} holds {len(raw)} bytes, fewer than "
                        f"the {numel} x {dtype.itemsize} of its storage; the file is damaged")
      self._storages[key] = np.frombuffer(raw, dtype, count=int(numel)).astype(
          storage_type.dtype.newbyteorder("="))
    return self._storages[key]


def _flatten(obj: Any, prefix: str, out: dict[str, np.ndarray]) -> None:
  if isinstance(obj, np.ndarray):
    out[prefix] = obj
  elif isinstance(obj, ScriptObject):
    _flatten(getattr(obj, "state", {}), prefix, out)  # NEWOBJ skips __init__.
  elif isinstance(obj, dict):
    for key, value in obj.items():
      _flatten(value, f"{prefix}.{key}" if prefix else str(key), out)
  elif isinstance(obj, (list, tuple)):
    for i, value in enumerate(obj):
      _flatten(value, f"{prefix}.{i}" if prefix else str(i), out)


def _pickle_records(archive: zipfile.ZipFile, source: str) -> tuple[str, list[str]]:
  """The archive's directory prefix (e.g. `out_jit_module/`) and its pickles to read."""
  names = archive.namelist()
  for pickle_name in ("data.pkl", "constants.pkl"):
    found = [n for n in names if n.endswith(pickle_name) and n.count("/") <= 1]
    if found:
      prefix = found[0][:-len(pickle_name)]
      records = [prefix + p for p in ("data.pkl", "constants.pkl") if prefix + p in names]
      return prefix, records
  raise UserError(f"{source} holds no data.pkl or constants.pkl; it is not a TorchScript or "
                  f"torch.save archive")


def read_tensors(file: Union[str, os.PathLike, bytes, BinaryIO]) -> dict[str, np.ndarray]:
  """Every tensor of a TorchScript / `torch.save` zip archive, by its dotted attribute path.

  `data.pkl` gives names such as `net.layers.conv.weight` (attribute paths through the
  module tree; list items by index); tensors of `constants.pkl` are named `constants.<i>`.
  Non-tensor attributes (strides, flags) are left out.

  Args:
    file: a path, the archive's bytes, or a binary file object.

  Returns:
    {name: np.ndarray}, each array contiguous and owning its memory, in the dtype of
    its storage (float32 for `torch.FloatStorage`).

  Raises:
    UserError: the file is not a zip archive, holds no pickle, is truncated, or its
      pickle names a global outside the whitelist (one line, before anything is called).
  """
  source = f"{os.fspath(file)!r}" if isinstance(file, (str, os.PathLike)) else "the archive"
  if isinstance(file, bytes):
    file = io.BytesIO(file)
  try:
    archive = zipfile.ZipFile(file)
  except (OSError, zipfile.BadZipFile) as error:
    raise UserError(f"cannot open {source} as a zip archive ({error}); give a TorchScript or "
                    f"torch.save file") from error
  with archive:
    prefix, records = _pickle_records(archive, source)
    byteorder = "little"
    if prefix + "byteorder" in archive.namelist():
      byteorder = archive.read(prefix + "byteorder").decode().strip()
    tensors: dict[str, np.ndarray] = {}
    for record in records:
      unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(record)), archive, prefix,
                                       byteorder, source)
      try:
        root = unpickler.load()
      except UserError:
        raise
      except Exception as error:  # pylint: disable=broad-except  # Any malformed pickle.
        reason = " ".join(str(error).split())[:80]
        raise UserError(f"cannot unpickle {record} of {source} ({type(error).__name__}: "
                        f"{reason}); the file is damaged") from error
      _flatten(root, "constants" if record.endswith("constants.pkl") else "", tensors)
  return tensors
