"""``python -m bench._tracemalloc_run <service> ...``: ``kubefed <service>`` with tracemalloc on.

SIGUSR2 writes a snapshot to ``$BENCH_TRACEMALLOC_OUT-<n>.tracemalloc`` (n = 1, 2, ...) and, beside it,
``...-<n>.peak.json`` with the traced memory now and its peak since start (a transient peak sets the RSS
high-water mark although no snapshot shows it). Used by ``bench/memprofile.py`` to compare what a
service holds at two fleet sizes.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "8")))
    out = os.environ["BENCH_TRACEMALLOC_OUT"]
    counter = itertools.count(1)

    def dump(*_: object) -> None:
        n = next(counter)
        current, peak = tracemalloc.get_traced_memory()
        Path(f"{out}-{n}.peak.json").write_text(json.dumps({"traced_bytes": current, "peak_bytes": peak}))
        tracemalloc.take_snapshot().dump(f"{out}-{n}.tracemalloc")

    signal.signal(signal.SIGUSR2, dump)
    from kubefed.cli import main as kubefed_main

    kubefed_main(prog_name="kubefed")


if __name__ == "__main__":
    main()
