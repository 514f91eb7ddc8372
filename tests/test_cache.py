"""The disk cache: hit, miss on source/constant change, corruption, off switch."""

import importlib
import os
import sys
import textwrap

import pytest

import jitkit as jk

SRC = """
import jitkit as jk
K = {k}

@jk.jit
def kern(x):
    i = jk.grid(1)
    if i < x.size:
        x[i] = x[i] * K + {c}
"""

F32 = jk.Array(jk.float32, 1, "C")


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("JITKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _load(tmp_path, name, k=2, c=1):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(SRC.format(k=k, c=c)))
    sys.modules.pop(name, None)
    importlib.invalidate_caches()
    return importlib.import_module(name).kern


def _entries(tmp_path):
    root = tmp_path / "cache"
    return sorted(p for p in root.rglob("*.jkc")) if root.exists() else []


def test_hit_after_fresh_dispatcher(module_dir):
    k1 = _load(module_dir, "m_hit")
    r1 = k1.compile((F32,), arch="sm_90")
    assert not r1.from_disk and len(_entries(module_dir)) == 1
    k2 = _load(module_dir, "m_hit")  # a new process would see the same
    r2 = k2.compile((F32,), arch="sm_90")
    assert r2.from_disk and r2.cubin == r1.cubin and r2.ir == r1.ir


def test_miss_on_source_change_and_constant_change(module_dir):
    _load(module_dir, "m_src").compile((F32,), arch="sm_90")
    r = _load(module_dir, "m_src", c=5).compile((F32,), arch="sm_90")
    assert not r.from_disk
    r = _load(module_dir, "m_src", k=3, c=5).compile((F32,), arch="sm_90")
    assert not r.from_disk, "a changed captured constant must not hit a stale kernel"
    assert len(_entries(module_dir)) == 3


def test_miss_on_signature_and_arch(module_dir):
    k = _load(module_dir, "m_sig")
    k.compile((F32,), arch="sm_90")
    assert not k.compile((F32,), arch="sm_80").from_disk
    assert not k.compile((jk.Array(jk.float64, 1, "C"),), arch="sm_90").from_disk


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip", "empty"])
def test_corrupt_entry_is_recompiled(module_dir, damage):
    k = _load(module_dir, f"m_bad_{damage}")
    good = k.compile((F32,), arch="sm_90")
    (entry,) = _entries(module_dir)
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        entry.write_bytes(os.urandom(len(data)))
    elif damage == "flip":
        entry.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    else:
        entry.write_bytes(b"")
    r = _load(module_dir, f"m_bad_{damage}").compile((F32,), arch="sm_90")
    assert not r.from_disk and r.cubin == good.cubin
    # the recompiled entry replaced the corrupt one
    assert _load(module_dir, f"m_bad_{damage}").compile((F32,), arch="sm_90").from_disk


def test_cache_off(module_dir, monkeypatch):
    monkeypatch.setenv("JITKIT_CACHE", "0")
    k = _load(module_dir, "m_off")
    k.compile((F32,), arch="sm_90")
    assert _entries(module_dir) == []


def test_unwritable_cache_dir_is_not_fatal(module_dir, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("JITKIT_CACHE_DIR", str(blocker / "sub"))
    r = _load(module_dir, "m_unwritable").compile((F32,), arch="sm_90")
    assert r.cubin[:4] == b"\x7fELF"


def _closure_kernel(fn):
    @jk.jit
    def k(x):
        i = jk.grid(1)
        if i < x.size:
            x[i] = fn(x[i])
    return k


def test_closures_over_different_functions_never_share_a_cubin(module_dir):
    """Regression: same source, different captured function -> different cache entries."""
    import math
    r1 = _closure_kernel(math.sqrt).compile((F32,), arch="sm_90")
    r2 = _closure_kernel(math.exp).compile((F32,), arch="sm_90")
    assert not r2.from_disk and r1.cubin != r2.cubin
    assert "__nv_expf" in r2.ir and "__nv_sqrtf" in r1.ir
    assert _closure_kernel(math.exp).compile((F32,), arch="sm_90").from_disk


CALLEE_SRC = """
import jitkit as jk
import {cfg} as cfg

@jk.jit
def helper(v, k={default}):
    return v * k + {c}

@jk.jit
def kern(x):
    i = jk.grid(1)
    if i < x.size:
        x[i] = helper(x[i]) + cfg.N + cfg.sub.M
"""


def _load_callee(tmp_path, name, c=1, n=5, default=2, m=7):
    (tmp_path / f"{name}_sub.py").write_text(f"M = {m}\n")
    (tmp_path / f"{name}_cfg.py").write_text(f"import {name}_sub as sub\nN = {n}\n")
    (tmp_path / f"{name}.py").write_text(CALLEE_SRC.format(cfg=f"{name}_cfg", c=c, default=default))
    for m in (name, f"{name}_cfg", f"{name}_sub"):
        sys.modules.pop(m, None)
    importlib.invalidate_caches()
    return importlib.import_module(name).kern


@pytest.mark.parametrize("change", ["callee body", "module attribute", "callee default", "submodule attribute"])
def test_key_covers_everything_reachable(module_dir, change):
    name = "m_reach_" + change.replace(" ", "_")
    base = _load_callee(module_dir, name).compile((F32,), arch="sm_90")
    assert _load_callee(module_dir, name).compile((F32,), arch="sm_90").from_disk
    kw = {"callee body": {"c": 3}, "module attribute": {"n": 6}, "callee default": {"default": 4},
          "submodule attribute": {"m": 8}}[change]
    changed = _load_callee(module_dir, name, **kw).compile((F32,), arch="sm_90")
    assert not changed.from_disk and changed.cubin != base.cubin


def test_disk_hit_does_not_type_and_types_on_demand(module_dir):
    _load(module_dir, "m_lazy").compile((F32,), arch="sm_90")
    r = _load(module_dir, "m_lazy").compile((F32,), arch="sm_90")
    assert r.from_disk and r.typed is None
    assert r.stage("typed").qualname == "kern" and r.written == frozenset({0})
