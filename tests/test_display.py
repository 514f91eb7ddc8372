"""Rich display (jitkit.notebook) outside a notebook: kernel cards, error cards, progress lines."""

from __future__ import annotations

import time

import numpy as np
import pytest

import jitkit as jk
from jitkit import notebook


@jk.jit
def _scaled(x, out, a):
    """out = a * x"""
    i = jk.grid(1)
    if i < x.size:
        out[i] = a * x[i]


@jk.jit
def _uses_dict(x):
    i = jk.grid(1)
    d = {"k": 1}
    x[i] = d["k"]


@jk.jit
def _bad_helper(v):
    return v.no_such_attribute


@jk.jit
def _calls_bad_helper(x):
    x[0] = _bad_helper(x[0])


def test_kernel_card_lists_signatures_resources_and_code():
    fresh = jk.jit(_scaled.py_func)
    assert "not compiled yet" in fresh._repr_html_()
    x = np.ones(8, np.float32)
    fresh.compile((x, x, np.float32(2)), arch="sm_90")
    html = fresh._repr_html_()
    assert "out = a * x" in html and "_scaled(x, out, a)" in html
    assert "(array(float32, 1d, C), array(float32, 1d, C), float32)" in html and "sm_90" in html
    usage = fresh.inspect_resources((x, x, np.float32(2)), arch="sm_90")
    row = html.split("<td>sm_90</td>")[1].split("</tr>")[0]
    assert f"<td>{usage['registers']}</td>" in row
    for title in ("NVVM IR", "PTX", "SASS"):
        assert f"<summary>{title} (" in html
    assert ".entry" in html and "define void" in html            # the PTX and IR texts themselves
    fresh.compile((x.astype(np.float64), x.astype(np.float64), 2.0), arch="sm_80")
    assert html.count("<tr>") + 1 == fresh._repr_html_().count("<tr>")   # one row per signature


def test_kernel_card_lists_simulator_signatures():
    fresh = jk.jit(_scaled.py_func).with_target("sim")
    x = np.arange(5, dtype=np.float64)
    out = np.zeros_like(x)
    fresh[1, 32](x, out, 3.0)
    np.testing.assert_array_equal(out, 3 * x)
    assert "typed for the CPU simulator" in fresh._repr_html_() and "float64" in fresh._repr_html_()


def test_error_card_highlights_the_failing_line_and_call_sites():
    with pytest.raises(jk.CompileError) as info:
        _uses_dict.compile((np.zeros(4, np.int64),), arch="sm_90")
    html = info.value._repr_html_()
    line = html.split('class="jitkit-error-line"')[1].split("</div>")[0]
    assert "d = " in line and '<span class="jitkit-col">' in line
    assert "UnsupportedError" in html and html.count("<div>") >= 3          # context lines around it
    with pytest.raises(jk.CompileError) as info:
        _calls_bad_helper.compile((np.zeros(4, np.float32),), arch="sm_90")
    html = info.value._repr_html_()
    assert "called from" in html and "_calls_bad_helper" in html
    assert "no_such_attribute" in html.split('class="jitkit-error-line"')[1].split("</div>")[0]


def test_progress_appears_only_after_the_delay(monkeypatch, capsys):
    monkeypatch.setenv("JITKIT_PROGRESS", "1")
    monkeypatch.setattr(notebook, "DELAY", 0.05)
    with notebook.progress("slow work", total=4) as p:
        for i in range(4):
            time.sleep(0.06)
            p.update(i + 1)
    err = capsys.readouterr().err
    assert "jitkit: slow work" in err and "done in" in err and "4/4" in err
    monkeypatch.setattr(notebook, "DELAY", 5.0)
    with notebook.progress("fast work"):
        pass
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("JITKIT_PROGRESS", "0")
    monkeypatch.setattr(notebook, "DELAY", 0.0)
    with notebook.progress("switched off"):
        time.sleep(0.05)
    assert capsys.readouterr().err == ""


def test_compiles_report_progress(monkeypatch, capsys):
    monkeypatch.setenv("JITKIT_PROGRESS", "1")
    monkeypatch.setattr(notebook, "DELAY", 0.05)
    from jitkit.build import pipeline
    real = pipeline.compile_kernel

    def slow(*args, **kwargs):            # a disk-cache hit would finish before the delay
        time.sleep(0.2)
        return real(*args, **kwargs)
    monkeypatch.setattr(pipeline, "compile_kernel", slow)
    fresh = jk.jit(_scaled.py_func)
    x = np.ones(8, np.int32)
    fresh.compile((x, x, np.int32(2)), arch="sm_90")
    err = capsys.readouterr().err
    assert "jitkit: compiling _scaled(array(int32, 1d, C), array(int32, 1d, C), int32) for sm_90" in err
    assert "done in" in err
