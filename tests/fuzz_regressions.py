"""Kernels reduced from disagreements the differential fuzzer found (tests/test_fuzz.py)."""

import numpy as np

import jitkit as jk


@jk.jit
def abs_branch(a, out):
    """Reduced from a fuzz program: ``0 > abs(x)`` steers a branch (True only for the most negative int)."""
    i = jk.grid(1)
    if i < out.size:
        v2 = np.int64(i)
        if (-(v2 - v2)) > np.int32(abs(a[i, (v2 >> (v2 & 7)) & 7])):
            out[i] = 1
        else:
            out[i] = 2
