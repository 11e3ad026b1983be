"""Run a console script (wsol-train, wsol-eval, wsol-predict) of this venv in a process of its own,
with its data and logs under a test's temporary folder.

A fresh interpreter spends ~6 CPU seconds importing torch, Lightning and Hydra before a run does
anything; the suite starts about a hundred of them. So each worker keeps a fork server
(:mod:`tests.helpers.cli_fork`) that imported them once, and every run is a child forked from it:
still its own process (exit status, signals, open files, flocks, environment, working folder
and DDP relaunches as under the real script), started in milliseconds. ``WSOL_TEST_FRESH_CLI=1``
starts a fresh interpreter per run instead (to compare, or to rule the server out).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.helpers.server_pool import ServerPool

SCRIPTS = Path(sys.executable).parent
SERVER = Path(__file__).with_name("cli_fork.py")
# Read when a run composes its config (or by pytest, per test), never at import: the only
# differences a run's environment may have from its server's. PYTHONPATH acts at start-up only,
# on sys.path: the child puts the entries its server lacks where a fresh interpreter would.
RUN_TIME_ENV = ("WSOL_DATA_DIR", "WSOL_LOG_DIR", "PYTEST_CURRENT_TEST", "PYTHONPATH")


class _Server:
    """One fork server, started with ``env`` (the environment its imports see)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        self._pending = b""
        self._read(timeout=600)  # {"ready": ...} once the imports are done

    def _read(self, timeout: float) -> dict:
        """The server's next answer line; TimeoutError when none came within ``timeout``."""
        while b"\n" not in self._pending:
            if not select.select([self.process.stdout], [], [], timeout)[0]:
                raise TimeoutError
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"the CLI fork server ended ({self.process.wait()})")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return json.loads(line)

    def run(self, argv: list[str], env: dict, cwd: Path, timeout: float) -> tuple[int, str, str]:
        with tempfile.TemporaryDirectory() as folder:
            out, err = Path(folder) / "stdout", Path(folder) / "stderr"
            request = {"argv": argv, "env": env, "cwd": str(cwd), "stdout": str(out)}
            self.process.stdin.write(json.dumps({**request, "stderr": str(err)}).encode() + b"\n")
            self.process.stdin.flush()
            pid = self._read(timeout=60)["pid"]
            try:
                returncode = self._read(timeout)["returncode"]
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                self._read(timeout=60)
                raise subprocess.TimeoutExpired(argv, timeout) from None
            read = lambda path: path.read_text(errors="replace")  # noqa: E731
            return returncode, read(out), read(err)

    def close(self) -> None:
        self.process.stdin.close()  # end of input ends the server
        self.process.wait(timeout=60)


_SERVERS = ServerPool(_Server, RUN_TIME_ENV, limit=2)  # per worker, one per environment


def run_script(
    command: str, args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess:
    """``command args`` as its own process in ``cwd`` with exactly ``env``; output captured."""
    argv = [str(SCRIPTS / command), *args]
    if os.environ.get("WSOL_TEST_FRESH_CLI") == "1":
        return subprocess.run(
            argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
        )
    returncode, stdout, stderr = _SERVERS.server_for(env).run(argv, env, cwd, timeout)
    return subprocess.CompletedProcess(argv, returncode, stdout, stderr)


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
    result = run_script(command, args, tmp_path, env)
    if expect is not None:
        assert result.returncode == expect, result.stdout[-3000:] + result.stderr[-3000:]
    return result
