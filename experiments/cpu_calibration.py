"""How fast this machine's CPU is right now: a fixed pure-Python loop, timed.

Cloud VMs drift (a neighbour's load slows every core for minutes), so a timing taken
alone says little by itself. Run this just before and after a measurement and record
both: `python -m experiments.cpu_calibration` prints one JSON line, e.g.
{"seconds": 3.17, "loop": "30M multiply-adds"} (the best seen on the 2-core AMD EPYC of
docs/test_suite_times.json). Larger is slower; compare only on one machine kind.
"""

import json
import time


# Run at a module's top level (global names), as it was first timed; inside a function
# the same loop takes about a third less.
_LOOP = """
start = time.perf_counter()
total = 0
for i in range(n):
  total += i * i
seconds = time.perf_counter() - start
"""


def calibrate(n: int = 30_000_000) -> float:
  namespace = {"time": time, "n": n}
  exec(_LOOP, namespace)  # pylint: disable=exec-used
  return namespace["seconds"]


if __name__ == "__main__":
  print(json.dumps({"seconds": round(calibrate(), 2), "loop": "30M multiply-adds"}))
