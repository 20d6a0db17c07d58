"""`python manage.py import ...` that stops at a named step of the import — for the fault
tests only, never in normal use (the importer itself has no hook).

    python -m tests.reliability.import_at_step kill STEP -- IMPORT ARGUMENTS...
    python -m tests.reliability.import_at_step pause STEP RELEASE_FILE -- IMPORT ARGUMENTS...

`kill`: the process sends itself SIGKILL (kill -9) right after STEP (one of the steps the
importer times, `store.importer._Steps`), so a test can hit each boundary of the import
exactly, which a delay cannot. `pause`: after STEP it prints "paused after STEP" and waits,
inside the import's open transaction, until RELEASE_FILE exists — a long-running import for
the concurrency tests. Everything else is manage.py's own code path.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    split = argv.index("--")
    mode, step, *rest = argv[:split]
    from store import importer

    done = importer._Steps.done

    def stop_at(self, name: str) -> None:
        done(self, name)
        if name != step:
            return
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        print(f"paused after {step}", flush=True)
        release = Path(rest[0])
        while not release.exists():
            time.sleep(0.01)

    importer._Steps.done = stop_at
    import manage

    return manage.main(["import", *argv[split + 1:]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
