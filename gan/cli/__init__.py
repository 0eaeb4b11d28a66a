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

import functools
import os
import re
import sys
from typing import Any, Callable, Iterable, NoReturn

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


# ------------------------------------------------- what the workdir commands share


def check_writable(path: str, flag: str) -> None:
  """A one-line `UserError` unless `path` can be written: its directory exists, and it is
  not a directory itself (checked before any work, so a mistake loses nothing)."""
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory):
    raise UserError(f"--{flag}={path!r}: directory {directory!r} does not exist; create it first")
  if os.path.isdir(path):
    raise UserError(f"--{flag}={path!r} is a directory; give a file name")


def flag_definers(flag_values=None) -> tuple[Callable, ...]:
  """absl's DEFINE_string, _integer, _enum, _boolean bound to `flag_values` (default:
  absl's global `FLAGS`), so a command's flags can be defined on a private `FlagValues`."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  fv = flag_values if flag_values is not None else flags.FLAGS
  return tuple(functools.partial(define, flag_values=fv) for define in (
      flags.DEFINE_string, flags.DEFINE_integer, flags.DEFINE_enum, flags.DEFINE_boolean))


def run_flags(flag_values=None, *, dataset: bool = True) -> dict[str, Any]:
  """The flags naming a trained run: --workdir, --step (and --dataset, its real data)."""
  string, integer, _, _ = flag_definers(flag_values)
  defined = {"workdir": string("workdir", None, "The training run's workdir."),
             "step": integer("step", None, "Checkpoint step (default: the newest).")}
  if dataset:
    defined["dataset"] = string("dataset", None,
                                "The real data (default: the run's config.dataset).")
  return defined


def extractor_flags(flag_values=None) -> dict[str, Any]:
  """--extractor and --extractor_config, as `gan.cli.evaluate` reads them."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  from gan.eval import features  # pylint: disable=g-import-not-at-top
  string, _, _, _ = flag_definers(flag_values)
  return {
      "extractor": string("extractor", None, "inception, lenet, or a saved extractor's "
                          "directory (as gan.cli.evaluate; default by the data)."),
      "extractor_config": config_flags.DEFINE_config_dict(
          "extractor_config", features.classifier_config(),
          "The recipe when the cached extractor must be trained.",
          flag_values=flag_values if flag_values is not None else flags.FLAGS)}


def workdir_flag_values(argv: list[str], flag_values, *, why: str) -> dict[str, Any]:
  """{name: value} of a workdir command's flags; one-line errors for stray arguments and
  a missing --workdir (`why`: what the workdir is, e.g. "the training run to score")."""
  if len(argv) > 1:
    raise UserError(f"unexpected arguments {argv[1:]}; use --workdir=W and flags")
  values = {name: flag.value for name, flag in flag_values.items()}
  if not values["workdir"]:
    raise UserError(f"--workdir is required: {why}")
  return values
