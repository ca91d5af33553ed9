"""The EDA notebook runs top to bottom, headless, on the small dataset it generates itself."""

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "eda_and_modeling.ipynb"
CELL_TIMEOUT_S = 90


@pytest.fixture(scope="module")
def executed():
    """The notebook after a full run, plus one probe cell that reports the kernel's Python."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WALLET_NB_SMALL", "1")
        mp.setenv("MPLBACKEND", "Agg")
        nb = nbformat.read(NOTEBOOK, as_version=4)
        nb.cells.append(new_code_cell("import sys; print(sys.executable, TEMP_DIR is not None)"))
        client = NotebookClient(
            nb,
            timeout=CELL_TIMEOUT_S,
            kernel_name="python3",
            resources={"metadata": {"path": str(NOTEBOOK.parent)}},
        )
        client.execute()  # raises CellExecutionError on the first failing cell
    return nb


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_notebook_is_saved_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    dirty = [i for i, c in enumerate(_code_cells(nb)) if c.outputs or c.execution_count]
    assert dirty == []


@pytest.mark.slow
def test_every_cell_runs_without_error(executed):
    errors = [o for c in _code_cells(executed) for o in c.outputs if o.output_type == "error"]
    assert errors == []


@pytest.mark.slow
def test_kernel_runs_this_interpreter_on_a_self_generated_dataset(executed):
    probe = "".join(o.get("text", "") for o in executed.cells[-1].outputs)
    assert probe.split() == [sys.executable, "True"]


@pytest.mark.slow
def test_plots_are_rendered(executed):
    images = [
        o
        for c in _code_cells(executed)
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    # 6 overview/model figures, the feature heatmap, one per scenario, wallets and reasons.
    assert len(images) >= 12
