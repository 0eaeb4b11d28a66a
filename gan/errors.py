"""User-facing errors, in the library's own terms.

A `UserError` is a mistake the user can fix (a config value, a path, an argument);
its message is one line that says how. The library names config fields as
`config.SECTION.FIELD` and never names a command-line flag: the command-line layer
(`gan.cli`) turns those names into flags (`--config.SECTION.FIELD`) when it prints
the message.
"""

from typing import Any


class UserError(ValueError):
  """A mistake the user can fix; the message says how, in one line."""


class ConfigError(UserError):
  """A config field with a value that cannot make a run.

  Attributes:
    field: the field's dotted path, e.g. `optim.g_lr`.
    value: the value it has.
    reason: what is wrong and what to set instead.
  """

  def __init__(self, field: str, value: Any, reason: str):
    self.field, self.value, self.reason = field, value, reason
    super().__init__(f"config.{field}={value!r} {reason}")
