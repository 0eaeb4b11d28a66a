"""User-facing errors: a mistake in a flag, a path or an argument.

Command-line entry points catch `UserError` and print its one-line message, which
names the fix, instead of a traceback.
"""

import sys
from typing import Callable, NoReturn


class UserError(ValueError):
  """A mistake the user can fix; the message says how."""


def exit_with(error: Exception) -> NoReturn:
  """Prints `error` as one line on stderr and exits with status 2."""
  message = " ".join(str(error).split())
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def run_cli(main: Callable[[list[str]], None]) -> None:
  """`absl.app.run(main)`, with user errors reported as one line, exit status 2."""
  from absl import app  # pylint: disable=g-import-not-at-top

  def guarded(argv):
    from absl import flags, logging  # pylint: disable=g-import-not-at-top
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO.
    try:
      main(argv)
    except UserError as error:
      exit_with(error)

  def parse_flags(argv):
    from absl import flags  # pylint: disable=g-import-not-at-top
    try:
      return flags.FLAGS(argv)
    except flags.Error as error:  # A bad flag name or value: one line too.
      exit_with(UserError(f"{error}; see --helpshort for the flags"))

  app.run(guarded, flags_parser=parse_flags)
