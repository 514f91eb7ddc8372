"""The teaching notebooks execute top to bottom (nbclient, a real IPython kernel) and say what they
should: on the CPU simulator in CI, on the GPU where there is one.

Each notebook checks its own results against NumPy in its cells (a failed assert fails the run).
On top of that a code cell's ``metadata.jitkit`` may list strings its outputs must contain
(``expect``; ``expect_gpu`` / ``expect_sim`` for one target only) and a MIME type it must produce
(``expect_mime``).  Cells tagged ``raises-exception`` must raise.
"""

from __future__ import annotations

import os
import pathlib

import pytest

import jitkit as jk

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted((pathlib.Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def _outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            parts.append(out.get("ename", "") + ": " + out.get("evalue", ""))
        else:
            for mime, data in out.get("data", {}).items():
                if mime.startswith("text/"):
                    parts.append(data if isinstance(data, str) else "".join(data))
    return "\n".join(parts)


def _mimes(cell) -> set:
    return {m for out in cell.get("outputs", []) for m in out.get("data", {})}


def test_there_are_five_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


_EXECUTED: dict = {}
# the kernel imports the jitkit under test, wherever the notebook's own directory is
_KERNEL_ENV = {"MPLBACKEND": "module://matplotlib_inline.backend_inline",
               "PYTHONPATH": os.pathsep.join([str(pathlib.Path(jk.__file__).resolve().parent.parent)]
                                             + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}


def _execute(nb, cwd) -> None:
    saved = {k: os.environ.get(k) for k in _KERNEL_ENV}
    os.environ.update(_KERNEL_ENV)
    try:
        nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _executed(path):
    """The notebook at ``path`` after running it (once per test session)."""
    if path not in _EXECUTED:
        nb = nbformat.read(path, as_version=4)
        try:
            _execute(nb, path.parent)
        except nbclient.exceptions.CellExecutionError:
            _EXECUTED[path] = None
            raise
        _EXECUTED[path] = nb
    if _EXECUTED[path] is None:
        pytest.fail(f"{path.name} failed to execute (see its own test)")
    return _EXECUTED[path]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_says_what_it_should(path):
    nb = _executed(path)
    gpu = jk.gpu_available()
    checked = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        text = _outputs_text(cell)
        raised = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
        assert raised == ("raises-exception" in cell.metadata.get("tags", [])), (i, text[-2000:])
        meta = cell.metadata.get("jitkit", {})
        for want in meta.get("expect", []) + meta.get("expect_gpu" if gpu else "expect_sim", []):
            assert want in text, f"cell {i} of {path.name}: {want!r} not in its output:\n{text[-2000:]}"
            checked += 1
        if "expect_mime" in meta:
            assert meta["expect_mime"] in _mimes(cell), (i, _mimes(cell))
            checked += 1
    assert checked >= 4


def test_compile_error_cell_renders_the_line_highlighted():
    """The error card of notebook 01's failing cell: the dict line is the highlighted one."""
    nb = _executed(NOTEBOOKS[0])
    cell = next(c for c in nb.cells if "raises-exception" in c.metadata.get("tags", []))
    html = "".join(o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {}))
    line = html.split('class="jitkit-error-line"')[1].split("</div>")[0]
    assert "bounds" in line and 'class="jitkit-col"' in line
    err = next(o for o in cell.outputs if o["output_type"] == "error")
    assert err["ename"] == "UnsupportedError" and "dict" in err["evalue"]


def test_progress_lines_reach_the_running_cell():
    """In a real kernel the progress line is a display updated in place, in the cell that started it."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import time\nimport jitkit as jk\njk.notebook.DELAY = 0.05\n"
        "with jk.notebook.progress('demo', total=3) as p:\n"
        "    for i in range(3):\n        time.sleep(0.2)\n        p.update(i + 1)\n"
        "print('after')")]
    _execute(nb, pathlib.Path(__file__).parent)
    outs = nb.cells[0].outputs
    shown = [o for o in outs if o["output_type"] == "display_data"]
    assert len(shown) == 1, outs                  # one line, updated in place (display_id)
    text = shown[0]["data"]["text/plain"]
    assert text.startswith("jitkit: demo") and "3/3" in text and "done in" in text, text
    assert any(o["output_type"] == "stream" and "after" in o["text"] for o in outs)
