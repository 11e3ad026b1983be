"""The notebooks: committed without outputs, and each one runs top to bottom, headless.

Execution uses the synthetic data shrunk by ``WSOL_NOTEBOOK_SMALL=1`` (every notebook reads
it) and one scratch folder (``WSOL_NOTEBOOK_WORKDIR``) for the whole session, so the
synthetic set of a given size is generated once and notebooks 02-05 reuse the CAM run of 01
(run alone, each notebook trains what it needs).

Each notebook gets a kernel of its own, forked from a per-worker server that imported what the
notebooks import (`tests.helpers.kernel_fork`): a fresh process in every other respect.
``WSOL_TEST_FRESH_CLI=1`` starts the stock ``python3`` kernel instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from tests.helpers.server_pool import ServerPool

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
# Run as scripts, never imported here (the server's module does its imports at import).
HELPERS = Path(__file__).resolve().parent / "helpers"
KERNEL_SERVER, KERNEL_CLIENT = HELPERS / "kernel_fork.py", HELPERS / "kernel_client.py"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = [
    "01_quick_start",
    "02_cam_vs_acol",
    "03_posthoc_cams",
    "04_inside_the_cnn",
    "05_evaluation_protocol",
    "06_your_own_data",
]


def test_every_notebook_is_there_committed_without_outputs_and_says_what_and_how_long():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        first = notebook.cells[0]
        assert first.cell_type == "markdown", path.name
        assert "**What this shows:**" in first.source and "**How long:**" in first.source
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.fixture(scope="session")
def notebook_workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notebooks")


class _KernelServer:
    """A kernel fork server started with ``env``, listening on a socket in a temporary folder."""

    def __init__(self, env: dict[str, str]) -> None:
        self.path = str(Path(tempfile.mkdtemp(prefix="wsol-kernels-")) / "server.sock")
        command = [sys.executable, str(KERNEL_SERVER), self.path]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True)
        ready = self.process.stdout.readline()  # {"ready": ...} once the imports are done
        assert ready, f"the kernel fork server ended ({self.process.wait()})"

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)
        shutil.rmtree(Path(self.path).parent, ignore_errors=True)


# Per-run variables: the only ones a kernel's environment may differ in from its server's.
_KERNEL_SERVERS = ServerPool(
    _KernelServer, ("PYTEST_CURRENT_TEST", "JUPYTER_PATH", "WSOL_TEST_KERNEL_SERVER"), limit=2
)


def forked_kernel(folder: Path, monkeypatch) -> str:
    """The name of a kernel spec whose kernels fork from a server started with the current
    environment (one per worker and environment; the environment is set before the call)."""
    server = _KERNEL_SERVERS.server_for(dict(os.environ))
    spec = folder / "jupyter" / "kernels" / "wsol-forked"
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(KERNEL_CLIENT), "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "Python 3", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps({**kernel, "interrupt_mode": "signal"}))
    monkeypatch.setenv("JUPYTER_PATH", str(folder / "jupyter"))
    monkeypatch.setenv("WSOL_TEST_KERNEL_SERVER", server.path)
    return "wsol-forked"


@pytest.fixture
def notebook_kernel(notebook_workdir, monkeypatch) -> str:
    """The environment the notebooks run in, and the name of the kernel to run them with."""
    monkeypatch.setenv("WSOL_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("WSOL_NOTEBOOK_WORKDIR", str(notebook_workdir))
    # One intra-op thread per kernel: the notebooks' networks are tiny, and two threads on two
    # busy CI cores spin against each other (8-20x slower steps measured on a loaded VM).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    if os.environ.get("WSOL_TEST_FRESH_CLI") == "1":
        return "python3"
    return forked_kernel(notebook_workdir, monkeypatch)


def _execute(cells: list[str], kernel: str, folder: Path) -> None:
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    resources = {"metadata": {"path": str(folder)}}
    NotebookClient(notebook, timeout=120, kernel_name=kernel, resources=resources).execute()


@pytest.mark.slow
def test_each_kernel_is_a_fresh_process_with_its_own_environment(
    notebook_kernel, monkeypatch, tmp_path
):
    """What a notebook sees in a kernel forked from the server is what it sees in a fresh one:
    the folder and environment Jupyter gave (a variable set after the server started), no
    names it did not define (the server's imports are not in its namespace), not the server's
    folder on its path, nothing a previous kernel defined; and a failing cell fails the run."""
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("WSOL_KERNEL_PROBE", "set after the server started")
    helpers = str(HELPERS)
    _execute(
        [
            "import os, sys\n"
            f"assert os.getcwd() == {str(tmp_path)!r}, os.getcwd()\n"
            "assert os.environ['WSOL_KERNEL_PROBE'] == 'set after the server started'\n"
            f"assert {helpers!r} not in sys.path\n"
            "assert not {'torch', 'plt', 'matplotlib', 'wsol'} & set(globals())",
            "leftover = 1",
        ],
        notebook_kernel,
        tmp_path,
    )
    _execute(["assert 'leftover' not in globals()"], notebook_kernel, tmp_path)
    with pytest.raises(CellExecutionError, match="NameError"):
        _execute(["torch.zeros(1)"], notebook_kernel, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, notebook_kernel):
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name=notebook_kernel,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
