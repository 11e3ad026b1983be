"""Run a console script (wsol-train, wsol-eval, wsol-predict) of this venv in a subprocess,
with its data and logs under a test's temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(sys.executable).parent


def run_cli(
    command: str, args: list[str], tmp_path: Path, expect: int | None = 0
) -> subprocess.CompletedProcess:
    """``command args`` in ``tmp_path`` with ``WSOL_DATA_DIR``/``WSOL_LOG_DIR`` inside it.

    Args:
        expect: the exit status to assert (the output tail is the failure message); None: any.
    """
    env = {
        **os.environ,
        "WSOL_DATA_DIR": str(tmp_path / "data"),
        "WSOL_LOG_DIR": str(tmp_path / "logs"),
    }
    result = subprocess.run(
        [str(SCRIPTS / command), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if expect is not None:
        assert result.returncode == expect, result.stdout[-3000:] + result.stderr[-3000:]
    return result
