"""The JSON records the measurement experiments print and write (`--out`)."""

import json


def write_record(record: dict, path: str, indent: int = 1) -> None:
  """Prints `record` as JSON and writes it to `path` (when given)."""
  text = json.dumps(record, indent=indent)
  print(text)
  if path:
    with open(path, "w", encoding="utf-8") as f:
      f.write(text + "\n")
