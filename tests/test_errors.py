"""Bad programs: each is rejected with a located error (file:line:col, source line, caret, hint).

Each kernel marks its offending line with ``# ERR``; the test checks the
reported line is exactly that one and the message says what went wrong.
"""

import inspect
import math

import numpy as np
import pytest

import jitkit as jk
from jitkit import CompileError, TypingError, UnsupportedError

F32 = jk.Array(jk.float32, 1, "C")
I32 = jk.Array(jk.int32, 1, "C")
F2D = jk.Array(jk.float32, 2, "C")
GLOBAL_ARRAY = np.zeros(3)


def plain_python(x):
    return x + 1


@jk.jit
def dev_add(a, b):
    return a + b


@jk.jit
def rec_a(n):
    return rec_b(n)  # ERR


@jk.jit
def rec_b(n):
    return rec_a(n - 1)


@jk.jit
def self_rec(n):
    if n <= 0:
        return 0
    return self_rec(n - 1) + 1  # ERR


BAD = []


def bad(sig, exc, pattern):
    def deco(fn):
        BAD.append((jk.jit(fn), sig, exc, pattern))
        return fn
    return deco


@bad((F32,), UnsupportedError, "lists are not supported")
def b_list(x):
    y = [1, 2]  # ERR
    x[0] = y[0]


@bad((F32,), UnsupportedError, "dicts are not supported")
def b_dict(x):
    d = {}  # ERR


@bad((F32,), UnsupportedError, "comprehensions")
def b_comp(x):
    s = sum([i for i in range(3)])  # ERR


@bad((F32,), UnsupportedError, "generators")
def b_genexp(x):
    s = (i for i in range(3))  # ERR


@bad((F32,), UnsupportedError, "lambdas")
def b_lambda(x):
    f = lambda v: v  # ERR  # noqa: E731


@bad((F32,), UnsupportedError, "strings are not supported|str constants")
def b_str(x):
    x[0] = "abc"  # ERR


@bad((F32,), UnsupportedError, "exceptions")
def b_try(x):
    try:  # ERR
        x[0] = 1
    except Exception:
        pass


@bad((F32,), UnsupportedError, "exceptions")
def b_raise(x):
    raise ValueError("no")  # ERR


@bad((F32,), UnsupportedError, "context managers")
def b_with(x):
    with open("f"):  # ERR
        pass


@bad((F32,), UnsupportedError, "classes")
def b_class(x):
    class A:  # ERR
        pass


@bad((F32,), UnsupportedError, "functiondef|define helpers")
def b_nested_def(x):
    def inner():  # ERR
        return 1


@bad((F32,), UnsupportedError, "import")
def b_import(x):
    import os  # ERR  # noqa: F401


@bad((F32,), UnsupportedError, "global")
def b_global(x):
    global GLOBAL_ARRAY  # ERR


@bad((F32,), UnsupportedError, "del")
def b_del(x):
    y = 1
    del y  # ERR


@bad((F32,), UnsupportedError, "range")
def b_for_over_array(x):
    for v in x:  # ERR
        pass


@bad((F32,), UnsupportedError, "slicing")
def b_slice(x):
    y = x[1:3]  # ERR


@bad((F32,), TypingError, "the truth value of array\\(float32, 1d, C\\) is ambiguous")
def b_assert(x):
    assert x  # ERR


@bad((F32,), UnsupportedError, ":=")
def b_walrus(x):
    if (n := 3) > 2:  # ERR
        x[0] = n


@bad((F32,), UnsupportedError, "star-unpacking|\\*args")
def b_star_call(x):
    t = (1, 2)
    dev_add(*t)  # ERR


@bad((F32,), UnsupportedError, "captured|global array")
def b_global_array(x):
    x[0] = GLOBAL_ARRAY[0]  # ERR


@bad((F32,), TypingError, "print\\(\\) in kernels prints numbers, bools, tuples and strings")
def b_print(x):
    print("x is", x)  # ERR


@bad((F32,), UnsupportedError, "sep= and end= as string literals")
def b_print_kw(x):
    print(x[0], flush=True)  # ERR


@bad((F32,), TypingError, "plain Python function")
def b_call_python(x):
    x[0] = plain_python(x[0])  # ERR


@bad((F32,), TypingError, "not defined")
def b_undefined(x):
    x[0] = undefined_name_here  # ERR  # noqa: F821


@bad((F32,), TypingError, "bad call of dev_add.*missing")
def b_dev_keyword(x):
    x[0] = dev_add(a=1.0, c=2.0)  # ERR


@bad((F32,), TypingError, "indices must be integers")
def b_float_index(x):
    x[0] = x[1.5]  # ERR


@bad((F32,), TypingError, "too many indices")
def b_too_many_indices(x):
    x[0] = x[1, 2]  # ERR


@bad((F2D,), TypingError, "needs 2 indices")
def b_partial_store(x):
    x[0] = 1.0  # ERR


@bad((F32,), TypingError, "holds .* elsewhere")
def b_unify(x):
    t = (1, 2)
    t = 3.0  # ERR


@bad((F32,), TypingError, "needs integer or bool operands")
def b_float_bitand(x):
    x[0] = x[1] & x[2]  # ERR


@bad((F32,), TypingError, "constant integers")
def b_tuple_var_index(x):
    t = (1, 2)
    i = jk.grid(1)
    x[0] = t[i]  # ERR


@bad((F32,), TypingError, "out of range")
def b_tuple_oob(x):
    t = (1, 2)
    x[0] = t[2]  # ERR


@bad((F32,), TypingError, "tuples are immutable")
def b_tuple_store(x):
    t = (1, 2)
    t[0] = 3  # ERR


@bad((F32,), TypingError, "does not fit in int32")
def b_literal_overflow(x):
    i = jk.int32(1)
    x[0] = i + 2**40  # ERR


@bad((F32,), TypingError, "division by zero")
def b_const_div_zero(x):
    x[0] = 1 // 0  # ERR


@bad((F32,), TypingError, "step must not be zero")
def b_range_zero_step(x):
    for i in range(0, 10, 0):  # ERR
        pass


@bad((F32,), TypingError, "range\\(\\) needs integer")
def b_range_float(x):
    for i in range(2.5):  # ERR
        pass


@bad((F32,), TypingError, "takes 1, 2 or 3")
def b_grid_4(x):
    i = jk.grid(4)  # ERR


@bad((F32,), TypingError, "constant integer")
def b_grid_var(x):
    n = x.size
    i = jk.grid(n)  # ERR


@bad((F32,), TypingError, "has no attribute")
def b_dim3_attr(x):
    x[0] = jk.threadIdx.w  # ERR


@bad((F32,), TypingError, "math.sqrt\\(\\) takes 1 argument")
def b_math_arity(x):
    x[0] = math.sqrt(x[0], x[1])  # ERR


@bad((F32,), TypingError, "has no attribute 'nosuch'")
def b_module_attr(x):
    x[0] = math.nosuch(x[0])  # ERR


@bad((F32,), TypingError, "bad call of dev_add")
def b_dev_arity(x):
    x[0] = dev_add(x[0])  # ERR


@bad((F32,), TypingError, "has no attribute 'T'")
def b_array_attr(x):
    y = x.T  # ERR


@bad((F32,), TypingError, "ambiguous")
def b_array_truth(x):
    if x:  # ERR
        pass


@bad((F32,), TypingError, "not supported on array")
def b_array_arith(x):
    y = x + 1  # ERR


@bad((F32,), TypingError, "can reach its end")
def b_missing_return_kernel_helper(x):
    x[0] = _maybe_returns(x[0])  # ERR


@jk.jit
def _maybe_returns(v):
    if v > 0:
        return v
    v = v + 1  # ERR-CALLEE


@bad((F32,), CompileError, "kernels return nothing")
def b_kernel_returns(x):  # ERR
    return 1


@bad((F32,), TypingError, "shape of jitkit.shared.array\\(\\) must be a constant")
def b_shared_dynamic_shape(x):
    sm = jk.shared.array(x.size, jk.float32)  # ERR


@bad((F32,), TypingError, "dtype of jitkit.local.array\\(\\) must be")
def b_local_bad_dtype(x):
    v = jk.local.array(4, 3)  # ERR


@bad((F32,), TypingError, "exceeds the 48 KiB limit")
def b_shared_too_big(x):
    sm = jk.shared.array((128, 128), jk.float64)  # ERR


@bad((F32,), TypingError, "jitkit.shfl_sync\\(\\) needs real arguments, got complex128")
def b_shfl_complex(x):
    v = jk.shfl_sync(0xFFFFFFFF, 1j, 0)  # ERR


@bad((F32,), TypingError, "atomic.and_\\(\\) is not supported on float32")
def b_atomic_float_and(x):
    jk.atomic.and_(x, 0, 1.0)  # ERR


@bad((F32,), TypingError, "jitkit.atomic has no operation 'mul'")
def b_atomic_unknown(x):
    jk.atomic.mul(x, 0, 2.0)  # ERR


@bad((jk.int64,), UnsupportedError, "recursive call")
def b_mutual_recursion(n):
    n = rec_a(n)  # ERR-CHAIN


@bad((jk.int64,), UnsupportedError, "recursive call")
def b_self_recursion(n):
    n = self_rec(n)  # ERR-CHAIN


@bad((F32,), TypingError, "atomic.inc\\(\\) is not supported on float32")
def b_atomic_float_inc(x):
    jk.atomic.inc(x, 0, 1.0)  # ERR


@bad((F32,), TypingError, "positive extents")
def b_local_zero(x):
    v = jk.local.array(0, jk.float32)  # ERR


@bad((F32,), TypingError, "align of jitkit.shared.array\\(\\) must be a constant power of two")
def b_bad_align(x):
    v = jk.shared.array(4, jk.float32, align=12)  # ERR


@jk.jit
def cx_callee(a, n: jk.constexpr):
    return a * n


@bad((F32,), TypingError, "'n' of cx_callee\\(\\) is jk.constexpr: pass a compile-time constant")
def b_constexpr_runtime_value(x):
    x[0] = cx_callee(x[0], x.size)  # ERR


@bad((F32, jk.Literal.of(4)), TypingError, "constexpr parameter 'n' cannot be assigned")
def b_constexpr_assigned(x, n: jk.constexpr):
    n = 5  # ERR


@bad((F32, jk.Literal.of(4.5)), TypingError, "shape of jitkit.local.array\\(\\) must be a constant int")
def b_constexpr_float_shape(x, n: jk.constexpr):
    v = jk.local.array(n, jk.float32)  # ERR


@bad((F32,), TypingError, "constraints name 2 operands but the call has 3")
def b_asm_operand_count(x):
    x[0] = jk.asm("add.f32 $0, $1, $2;", "=f,f", jk.float32, x[0], x[1])  # ERR


@bad((F32,), TypingError, "PTX text and constraints of jitkit.asm\\(\\) must be compile-time strings")
def b_asm_text(x):
    x[0] = jk.asm(x[0], "=f", jk.float32)  # ERR


@bad((F32,), UnsupportedError, "assert message in a kernel must be a string literal")
def b_assert_message(x):
    assert x[0] > 0, x[1]  # ERR


@bad((F32,), TypingError, "jitkit.popc\\(\\) takes an integer, got float32")
def b_popc_float(x):
    x[0] = jk.popc(x[1])  # ERR


def _marker_line(fn, marker="# ERR"):
    lines, start = inspect.getsourcelines(fn)
    for k, text in enumerate(lines):
        if marker in text and (marker != "# ERR" or "# ERR-" not in text):
            return start + k
    return None


@pytest.mark.parametrize("kernel,sig,exc,pattern", BAD, ids=[b[0].__name__ for b in BAD])
def test_bad_program_rejected_with_location(kernel, sig, exc, pattern):
    import re
    with pytest.raises(exc) as info:
        kernel.compile(sig, arch="sm_90")
    err = info.value
    text = str(err)
    assert re.search(pattern, text, re.IGNORECASE), text
    assert err.loc is not None and err.loc.filename == __file__
    want = _marker_line(kernel.py_func)
    if want is not None:
        if err.chain:  # the error is inside a callee: the kernel's own call site is last in the chain
            assert err.chain[-1].line == want, text
        else:
            assert err.loc.line == want, text
    else:  # errors found inside a callee: the chain leads back to the kernel
        assert err.chain and err.chain[-1].line == _marker_line(kernel.py_func, "# ERR-CHAIN"), text
    assert "^" in text, "no caret under the source line"
    assert f"line {err.loc.line}" in text


def test_catalogue_size():
    assert len(BAD) >= 30


def test_callee_error_points_into_callee_and_back():
    k = [b for b in BAD if b[0].__name__ == "b_missing_return_kernel_helper"][0][0]
    with pytest.raises(TypingError) as info:
        k.compile((F32,), arch="sm_90")
    err = info.value
    assert err.loc.func == "_maybe_returns"
    assert err.loc.line == _marker_line(_maybe_returns.py_func, "# ERR-CALLEE")
    assert "called from" in str(err)


def test_source_unavailable_is_a_compile_error():
    ns = {}
    exec("def f(x):\n    x[0] = 1\n", ns)
    with pytest.raises(CompileError, match="cannot read the source"):
        jk.jit(ns["f"]).compile((F32,), arch="sm_90")


def test_errors_are_jitkit_exceptions():
    assert issubclass(TypingError, CompileError) and issubclass(UnsupportedError, CompileError)
    assert issubclass(CompileError, jk.JitkitError)
