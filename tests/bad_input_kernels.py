"""Kernels for tests/test_bad_input.py (jitkit reads kernel source from files)."""

import numpy as np

import jitkit as jk


@jk.jit
def add(x, y, out):
    i = jk.grid(1)
    if i < out.size:
        out[i] = x[i] + y[i]


@jk.jit
def first_column(m):
    i = jk.grid(1)
    if i < m.shape[0]:
        m[i, 0] = 1


@jk.jit
def wild_write(x, far):
    x[far] = 1.0


@jk.jit
def fill(x, v):
    i = jk.grid(1)
    if i < x.size:
        x[i] = v


def keep_positive(v):
    return v > 0


def double(v):
    return v * 2


def pair_of(a, b):
    return a, b


def no_such_attribute(a, b):
    return a.nosuch


def returns_nothing(a, b):
    pass
