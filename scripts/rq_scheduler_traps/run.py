"""Run traps.py in a throwaway virtualenv with the pinned rq-scheduler (requirements.txt here).

    python3 scripts/rq_scheduler_traps/run.py
"""

import subprocess
import sys
import tempfile
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="rq-scheduler-traps-") as directory:
        venv.create(directory, with_pip=True)
        python = Path(directory) / "bin" / "python"
        pip = [str(python), "-m", "pip", "--disable-pip-version-check", "-q", "install"]
        subprocess.run([*pip, "-r", str(HERE / "requirements.txt")], check=True)
        return subprocess.run([str(python), str(HERE / "traps.py")]).returncode


if __name__ == "__main__":
    sys.exit(main())
