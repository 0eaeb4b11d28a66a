"""The command line: thin mains over the library, and how they report mistakes.

  python -m experiments.<name> --workdir=W [--config.SECTION.FIELD=V ...]   train (`train`)
  python -m gan.cli.sample   --workdir=W --num=64 --out=grid.png               samples
  python -m gan.cli.evaluate --workdir=W [--dataset=D]                         scores
  python -m gan.cli.info     W [--export=g.npz]                                what a workdir holds
  python -m gan.cli.data     convert SRC DST_DIR                               .npy directory

The library raises `gan.errors.UserError` in its own terms (config fields as
`config.SECTION.FIELD`, arguments by name); `run_cli` prints one `error:` line with
those names as flags (`--config.SECTION.FIELD`, `--num_real`) and exits with status 2,
with no traceback.
"""

import re
import sys
from typing import Callable, Iterable, NoReturn

from gan.errors import UserError

_CONFIG_NAME = re.compile(r"(?<![\w.-])config\.(?=[A-Za-z_])")


def as_flags(message: str, arguments: Iterable[str] = ()) -> str:
  """`message` with config fields and the named arguments written as flags."""
  message = _CONFIG_NAME.sub("--config.", message)
  for name in arguments:
    message = re.sub(rf"(?<![\w.-]){re.escape(name)}=", f"--{name}=", message)
  return message


def exit_with(error: Exception, arguments: Iterable[str] = ()) -> NoReturn:
  """Prints `error` as one line on stderr (names as flags) and exits with status 2."""
  message = " ".join(as_flags(str(error), arguments).split())
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def run_cli(main: Callable[[list[str]], None], *, arguments: Iterable[str] = (),
            help_text: Callable[[], str] | None = None) -> None:
  """`absl.app.run(main)`, with user errors reported as one line, exit status 2.

  Args:
    main: the main function, `main(argv)`.
    arguments: names of the command's own arguments, written as `--NAME` in messages.
    help_text: what `--help` / `--helpshort` print (default: absl's).
  """
  from absl import app, flags, logging  # pylint: disable=g-import-not-at-top
  arguments = tuple(arguments)

  if help_text is not None and any(a in ("--help", "-h", "--helpshort", "-?")
                                   for a in sys.argv[1:]):
    print(help_text())
    sys.exit(0)

  def guarded(argv):
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO.
    try:
      main(argv)
    except UserError as error:
      exit_with(error, arguments)

  def parse_flags(argv):
    try:
      return flags.FLAGS(argv)
    except flags.Error as error:  # A bad flag name or value: one line too.
      exit_with(UserError(f"{error}; see --help for the flags"), arguments)

  app.run(guarded, flags_parser=parse_flags)
