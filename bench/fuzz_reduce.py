"""Reduce a failing fuzz program (GPU vs Python, tests/test_fuzz.py) by replacing its statements
with ``pass`` while it still fails; prints the reduced program and the threads that disagree.

    PYTHONPATH=. python bench/fuzz_reduce.py failing_program.py [input seed]
"""
import os
import re
import sys

import numpy as np
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from fuzz_programs import Program, inputs  # noqa: E402
import test_fuzz as tf  # noqa: E402

src = open(sys.argv[1]).read()
a, b, x, y = inputs(int(sys.argv[2]) if len(sys.argv) > 2 else 0)


def fails(lines):
    s = "\n".join(lines) + "\n"
    n_int = len(re.findall(r"oi\[i, \d+\]", s)); n_float = len(re.findall(r"of\[i, \d+\]", s))
    p = Program(s, n_int, n_float)
    try:
        mod, fn = tf.load(p)
        want = tf.run_python(fn, p, a, b, x, y)
        got = tf.run_kernel(mod, p, a, b, x, y, "gpu")
    except Exception:
        return False
    return not (np.array_equal(want[0], got[0]) and np.array_equal(want[1], got[1]))


lines = src.rstrip("\n").split("\n")
assert fails(lines), "does not reproduce"
changed = True
while changed:
    changed = False
    for k in range(1, len(lines)):
        ln = lines[k]
        s = ln.strip()
        if s == "pass" or s.endswith(":") or s.startswith(("oi[", "of[")):
            continue
        trial = lines[:k] + [ln[:len(ln) - len(ln.lstrip())] + "pass"] + lines[k + 1:]
        if fails(trial):
            lines, changed = trial, True
print("\n".join(lines))
mod, fn = tf.load(Program("\n".join(lines) + "\n", 3, 3))
want = tf.run_python(fn, Program("", 3, 3), a, b, x, y)
got = tf.run_kernel(mod, Program("", 3, 3), a, b, x, y, "gpu")
bad = np.nonzero((want[0] != got[0]).any(1) | (want[1] != got[1]).any(1))[0]
for i in bad[:3]:
    print("thread", i, "a in", a[i].tolist(), "x", x)
    print("  python a", want[0][i].tolist(), "oi", want[1][i].tolist())
    print("  gpu    a", got[0][i].tolist(), "oi", got[1][i].tolist())
