"""A console-script fork server: imports what ``wsol-train``/``wsol-eval``/``wsol-predict`` import
once, then starts each requested run as a forked child (a process of its own, with its own exit
status, signals, files and environment), skipping the ~6 CPU seconds of imports a fresh
interpreter pays per run. Started and spoken to by :mod:`tests.helpers.cli`; not imported.

Protocol, one JSON object per line: the client writes ``{"argv", "env", "cwd", "stdout",
"stderr"}`` on this process's stdin; the server answers ``{"pid"}`` when the child is forked and
``{"returncode"}`` (negative: killed by that signal, as :mod:`subprocess` reports it) when it
ends. End of input ends the server.

The child runs exactly what the console script does, ``sys.exit(<entry point>())``, with the
environment of the request: the environment the imports saw (the server's own, set at its
start) equals the request's apart from :data:`tests.helpers.cli.RUN_TIME_ENV` (the client starts
one server per distinct environment), ``PYTHONPATH`` entries the server lacks go on the child's
``sys.path`` as a fresh interpreter would put them, and whatever the imports added to their
environment (``GOMP_SPINCOUNT``) is kept unless the request sets it, as in a fresh process.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

# As in a console script: the scripts' folder first on the path, not this file's folder.
sys.path[0] = str(Path(sys.executable).parent)
_BEFORE = dict(os.environ)

import lightning.pytorch  # noqa: E402, F401
import torch  # noqa: E402, F401

import wsol.cli  # noqa: E402, F401
import wsol.tasks.evaluate  # noqa: E402, F401
import wsol.tasks.predict  # noqa: E402, F401
import wsol.tasks.train  # noqa: E402, F401

ADDED_BY_IMPORTS = {k: v for k, v in os.environ.items() if k not in _BEFORE}
SCRIPTS = {e.name: e for e in entry_points(group="console_scripts") if e.name.startswith("wsol-")}


def _read_configs_once() -> None:
    """Hydra's config files parsed here, once, for every child (`tests.helpers.config_memo`,
    loaded from its file: this script runs outside the tests package). Composing the three
    tasks' defaults reads most of them; the children's own reads of them are deep copies.
    Leaves no Hydra state behind: no child sees an initialised Hydra or a composed config."""
    from importlib.util import module_from_spec, spec_from_file_location

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    spec = spec_from_file_location("config_memo", Path(__file__).with_name("config_memo.py"))
    config_memo = module_from_spec(spec)
    spec.loader.exec_module(config_memo)
    config_memo.install()
    for task in ("train", "eval", "predict"):
        with initialize_config_dir(config_dir=wsol.cli.CONFIG_DIR, version_base="1.3"):
            compose(config_name=task, return_hydra_config=True)
    GlobalHydra.instance().clear()


_read_configs_once()
# The children's garbage collections skip what the imports made: without this, each child's
# collections (its exit's above all, ~1.5 s) touch every inherited object and copy the heap.
gc.freeze()


def run_child(request: dict) -> None:
    """In the forked child: become the console script of ``request`` and exit as it would."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update({**ADDED_BY_IMPORTS, **request["env"]})
    # PYTHONPATH's entries follow the script's folder on a fresh interpreter's path.
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[1:1] = [p for p in extra if p not in sys.path]
    sys.argv = list(request["argv"])
    main = SCRIPTS[Path(sys.argv[0]).name].load()
    sys.exit(main())  # unwinds out of serve(): the interpreter's own exit (atexit, flushing)


def serve() -> None:
    print(json.dumps({"ready": sorted(SCRIPTS)}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            run_child(request)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    serve()
