"""The `rankgraph` command line: one command per stage of the flow.

OpenMP threads that spin while waiting make RankGraph's many small CPU ops up to ~30x
slower whenever another process shares the cores (measured: 19.6 s vs 0.57 s per training
step on 2 cores with one other busy process). Passive waiting costs little when the machine
is idle, so the CLI asks for it before torch starts its thread pool; a value the user set
wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
