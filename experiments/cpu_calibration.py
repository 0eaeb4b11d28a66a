"""How fast this machine's CPU is right now: a fixed pure-Python loop, timed.

Cloud VMs drift (a neighbour's load slows every core for minutes), so a timing taken
alone says little by itself. Run this just before and after a measurement and record
both: `python -m experiments.cpu_calibration` prints one JSON line, e.g.
{"seconds": 3.17, "loop": "30M multiply-adds"} (the best seen on the 2-core AMD EPYC of
docs/test_suite_times.json). Larger is slower; compare only on one machine kind.
"""

import json
import time

if __name__ == "__main__":
  # At the module's top level (global names), as it was first timed; inside a function
  # the same loop takes about a third less.
  start = time.perf_counter()
  total = 0
  for i in range(30_000_000):
    total += i * i
  print(json.dumps({"seconds": round(time.perf_counter() - start, 2),
                    "loop": "30M multiply-adds"}))
