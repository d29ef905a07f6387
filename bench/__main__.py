"""``python -m bench`` (``make bench``): run every ``bench/bench_*.py`` with its defaults, one after
the other, each in its own interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Benchmarks whose defaults take minutes run a short version here (the full one is in their docstring).
QUICK = {"bench_burst.py": ["--n", "40", "--repeat", "1", "--db", "sqlite"]}


def main() -> int:
    here = Path(__file__).resolve().parent
    failed = []
    for script in sorted(here.glob("bench_*.py")):
        print(f"\n=== {script.name} ===", flush=True)
        command = [sys.executable, str(script), *QUICK.get(script.name, [])]
        if subprocess.run(command, cwd=here.parent, check=False).returncode:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
