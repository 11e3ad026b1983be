"""A notebook-kernel fork server: imports once what the notebooks import (torch, Lightning,
matplotlib, wsol, ipykernel), then starts each kernel the notebook tests ask for as a forked
child, skipping the ~8 CPU seconds a fresh kernel spends starting and importing.

Each kernel is still a process of its own that runs exactly what ``python -m ipykernel_launcher
-f <connection file>`` runs, with the environment, working folder and standard streams of the
process Jupyter started: `tests.helpers.kernel_client`, the command of the kernel spec the
notebook tests use. Nothing runs in this server but imports, so every kernel starts from the
state a fresh kernel reaches after its imports: its namespace is empty (a notebook that forgets
an import still fails), and no notebook sees another's variables or changes.

Started by ``tests/test_notebooks.py`` as ``python kernel_fork.py <socket>``, one per pytest
worker and environment. Protocol on the Unix socket, per kernel: the client sends one JSON line
``{"env", "cwd", "argv", "client"}`` with its stdin, stdout and stderr attached (SCM_RIGHTS); the
server answers ``{"pid"}`` when the kernel is forked and ``{"returncode"}`` when it ends. The
kernel exits if its client does (a client killed by Jupyter takes its kernel along); the server
exits when its parent (the pytest worker) does.
"""

from __future__ import annotations

import ast
import gc
import json
import os
import select
import socket
import sys
import threading
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"
_PARENT = os.getppid()

# A kernel runs as ``python -m ipykernel_launcher``, which takes its folder off the path: so does
# this script (tests/helpers is not on a kernel's path).
del sys.path[0]
_BEFORE = dict(os.environ)
# What ipykernel sets at start unless the environment has it, before matplotlib reads it.
os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")


def notebook_imports() -> list[str]:
    """The modules the notebooks' code cells import at top level (magics skipped)."""
    import nbformat

    modules = set()
    for path in sorted(NOTEBOOK_DIR.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            code = "\n".join(line for line in cell.source.splitlines() if line[:1] not in "%!")
            try:
                body = ast.parse(code).body
            except SyntaxError:
                continue  # IPython syntax this does not strip: that cell's imports run cold
            for node in body:
                if isinstance(node, ast.Import):
                    modules.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    modules.add(node.module)
    return sorted(modules)


import ipykernel.kernelapp  # noqa: E402, F401
import matplotlib.pyplot  # noqa: E402, F401
import matplotlib_inline.backend_inline  # noqa: E402, F401

for _module in notebook_imports():
    try:
        __import__(_module)
    except ImportError:
        pass  # the notebook's own import fails in its kernel, where the test reports it

ADDED_BY_IMPORTS = {k: v for k, v in os.environ.items() if k not in _BEFORE}
# A fork copies only the forking thread: no thread (Python's or a library's own) may exist yet.
_TASKS = Path("/proc/self/task")
if threading.active_count() != 1 or (_TASKS.is_dir() and len(list(_TASKS.iterdir())) != 1):
    raise RuntimeError(f"the imports started threads: {threading.enumerate()}")
# The kernels' garbage collections skip what the imports made: without this, each kernel's
# collections (its exit's above all) touch every inherited object and copy the whole heap.
gc.freeze()


def _exit_with(client_pid: int) -> None:
    """In the kernel: a thread that ends the process when the client process ends."""
    watched = os.pidfd_open(client_pid)

    def watch() -> None:
        select.select([watched], [], [])
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="kernel-client-watch").start()


def run_kernel(request: dict, fds: list[int]) -> None:
    """In the forked child: become the kernel of ``request`` and exit as it would."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update({**ADDED_BY_IMPORTS, **request["env"]})
    sys.argv = [ipykernel.__file__.replace("ipykernel/__init__.py", "ipykernel_launcher.py")]
    sys.argv += request["argv"]
    _exit_with(request["client"])
    # Traits whose defaults ipykernel reads from the environment at import (this server's):
    # given as the options they are, from the kernel's environment.
    from_environment = {"parent_handle": "JPY_PARENT_PID", "interrupt": "JPY_INTERRUPT_EVENT"}
    for name, variable in from_environment.items():
        sys.argv.append(f"--IPKernelApp.{name}={int(os.environ.get(variable) or 0)}")
    ipykernel.kernelapp.launch_new_instance()
    sys.exit(0)  # unwinds out of serve(): the interpreter's own exit (atexit, flushing)


def _receive(connection: socket.socket) -> tuple[dict, list[int]]:
    message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
    while not message.endswith(b"\n"):
        more = connection.recv(1 << 20)
        if not more:
            raise ConnectionError("the kernel client hung up mid-request")
        message += more
    return json.loads(message), fds


def serve(path: str) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()
    print(json.dumps({"ready": path}), flush=True)
    while os.getppid() == _PARENT:
        if not select.select([listener], [], [], 1.0)[0]:
            continue
        connection, _ = listener.accept()
        request, fds = _receive(connection)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            listener.close()
            connection.close()
            run_kernel(request, fds)
        for fd in fds:
            os.close(fd)
        try:
            connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        except OSError:
            pass  # the client is gone: the kernel follows it (`_exit_with`)
        _, status = os.waitpid(pid, 0)
        ended = {"returncode": os.waitstatus_to_exitcode(status)}
        try:
            connection.sendall(json.dumps(ended).encode())
        except OSError:
            pass
        connection.close()
    listener.close()


if __name__ == "__main__":
    serve(sys.argv[1])
