"""The notebooks: committed without outputs, and each one runs top to bottom, headless.

Execution uses the synthetic data shrunk by ``WSOL_NOTEBOOK_SMALL=1`` (every notebook reads
it) and one scratch folder (``WSOL_NOTEBOOK_WORKDIR``) for the whole session, so the
synthetic set of a given size is generated once and notebooks 02-05 reuse the CAM run of 01
(run alone, each notebook trains what it needs).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
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


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, notebook_workdir, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("WSOL_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("WSOL_NOTEBOOK_WORKDIR", str(notebook_workdir))
    # One intra-op thread per kernel: the notebooks' networks are tiny, and two threads on two
    # busy CI cores spin against each other (8-20x slower steps measured on a loaded VM).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
