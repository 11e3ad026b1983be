"""The suite's fork servers, one per worker and environment: the console-script servers
(`tests.helpers.cli`) and the notebook-kernel servers (``tests/test_notebooks.py``).

A server's imports see the environment it was started with, so a request whose environment
differs in anything but its run-time variables (read after the imports, per request) gets a
server of its own. A server that has ended is started again; the oldest is closed past
``limit``; all are closed when the worker exits.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from typing import Protocol


class Server(Protocol):
    process: object  # the subprocess.Popen of the server

    def close(self) -> None: ...


class ServerPool:
    """Servers keyed by environment.

    Args:
        start: starts a server given the environment its imports see.
        run_time_env: variables read per request, which may differ from the server's.
        limit: at most this many servers at once.
    """

    def __init__(
        self, start: Callable[[dict[str, str]], Server], run_time_env: tuple[str, ...], limit: int
    ) -> None:
        self._start, self.run_time_env, self._limit = start, run_time_env, limit
        self._servers: dict[tuple, Server] = {}
        atexit.register(self.close)

    def server_for(self, env: dict[str, str]) -> Server:
        """The running server for ``env`` (started now if there is none)."""
        env = {k: v for k, v in env.items() if k not in self.run_time_env}
        key = tuple(sorted(env.items()))
        server = self._servers.get(key)
        if server is None or server.process.poll() is not None:
            if server is not None:  # ended: release what the pool still holds of it
                self._servers.pop(key).close()
            while len(self._servers) >= self._limit:
                self._servers.pop(next(iter(self._servers))).close()
            server = self._servers[key] = self._start(env)
        return server

    def close(self) -> None:
        while self._servers:
            self._servers.popitem()[1].close()
