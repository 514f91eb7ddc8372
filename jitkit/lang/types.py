"""jitkit's type system: frozen, interned, hashable types.

Types compare by identity and go straight into cache keys.  Scalar types are
also callable inside kernels as explicit casts (``jk.float32(x)``).

Promotion follows NumPy 2 (NEP 50): two typed operands promote with
``numpy.promote_types``; a Python literal is *weak* and takes the other
operand's type (``x * 2.0`` stays float32 for a float32 ``x``).  This is the one
deliberate deviation from numba, which would widen to float64/int64.
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = [
    "Type", "Scalar", "Array", "Tuple", "NoneType", "Literal",
    "boolean", "bool_", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
    "none", "scalar_from_dtype", "promote", "SCALARS", "bf16_bits",
]

_intern_lock = threading.Lock()


class Type:
    """Base of all jitkit types.  Instances are interned: equal types are identical."""

    __slots__ = ("_key", "__weakref__")
    _interned: dict = {}

    def __new__(cls, *key):
        full = (cls,) + key
        found = Type._interned.get(full)
        if found is not None:
            return found
        with _intern_lock:
            found = Type._interned.get(full)
            if found is None:
                found = object.__new__(cls)
                object.__setattr__(found, "_key", key)
                found._init(*key)
                Type._interned[full] = found
        return found

    def _init(self, *key):
        pass

    def __setattr__(self, name, value):  # frozen after _init
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _set(self, **kw):
        for k, v in kw.items():
            object.__setattr__(self, k, v)

    def __reduce__(self):
        return (type(self), self._key)

    def __repr__(self):
        return self.name  # type: ignore[attr-defined]

    __str__ = __repr__


class Scalar(Type):
    """A numeric or boolean scalar: kind 'b' (bool), 'i' (signed), 'u' (unsigned), 'f' (float),
    'c' (complex; ``bits`` is the whole value, two floats of ``bits // 2``).

    ``Scalar("f", 16, "bf")`` is bfloat16: a storage format whose arithmetic the
    typer rewrites to float32 with one rounding per operation (see ``is_bf16``)."""

    __slots__ = ("kind", "bits", "name", "dtype", "is_bf16")

    def _init(self, kind: str, bits: int, variant: str = ""):
        if variant == "bf":
            self._set(kind=kind, bits=bits, name="bfloat16", dtype=_bf16_dtype(), is_bf16=True)
            return
        name = {"b": "bool", "i": f"int{bits}", "u": f"uint{bits}", "f": f"float{bits}", "c": f"complex{bits}"}[kind]
        self._set(kind=kind, bits=bits, name=name, dtype=np.dtype(name), is_bf16=False)

    @property
    def is_int(self) -> bool:
        return self.kind in "iu"

    @property
    def is_signed(self) -> bool:
        return self.kind == "i"

    @property
    def is_float(self) -> bool:
        return self.kind == "f"

    @property
    def is_bool(self) -> bool:
        return self.kind == "b"

    @property
    def is_complex(self) -> bool:
        return self.kind == "c"

    @property
    def part(self) -> "Scalar":
        """The float type of a complex type's real and imaginary parts."""
        return Scalar("f", self.bits // 2)

    @property
    def itemsize(self) -> int:
        return max(self.bits // 8, 1)

    def __call__(self, value):
        """Outside kernels a scalar type converts like its NumPy counterpart."""
        if self.is_bf16:
            return np.asarray(bf16_bits(value), np.uint16).view(self.dtype.type)[()]
        return self.dtype.type(value)


class _MissingDtype:
    """bfloat16's ``dtype`` where ml_dtypes is not installed: kernels using bfloat16 still
    compile for the GPU, but host-side NumPy storage (arrays, the simulator) needs ml_dtypes."""

    def __getattr__(self, name):
        raise ImportError("bfloat16 on the host (NumPy arrays and scalars, the CPU simulator) needs the "
                          "ml_dtypes package: pip install ml_dtypes (or jitkit[bfloat16])")

    def __repr__(self):
        return "<bfloat16 dtype: ml_dtypes not installed>"


def _bf16_dtype():
    try:
        import ml_dtypes
    except ImportError:
        return _MissingDtype()
    return np.dtype(ml_dtypes.bfloat16)


def bf16_bits(x):
    """The bfloat16 bit patterns (uint16) nearest to ``x`` (a number or an array), rounding
    once to nearest-even from any source type.

    NumPy values go through float64 (exact for every float and for ints up to 2**53; one
    rounding of 53 bits before one of 8 is harmless), then float32 with round-to-odd, then
    bfloat16 with round-to-nearest-even: the result is correctly rounded.  (ml_dtypes and
    PyTorch round float64 through float32 and can differ from this in the last bit.)
    """
    d = np.asarray(x)
    if HAVE_BF16_DTYPE and d.dtype == bfloat16.dtype:
        return d.view(np.uint16).copy() if d.ndim else d.view(np.uint16)[()]
    d = np.asarray(d, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        f = d.astype(np.float32)
        u = np.atleast_1d(f.view(np.uint32)).copy()
        back = np.atleast_1d(f.astype(np.float64))
        dd = np.atleast_1d(d)
        inexact = (back != dd) & ~np.isnan(dd)
        # round-to-odd: step a value that rounded away from zero back toward it, set the last bit
        u[inexact & (np.abs(back) > np.abs(dd))] -= 1
        u[inexact] |= 1
        nan = np.isnan(dd)
        r = ((u + np.uint32(0x7FFF) + ((u >> 16) & 1)) >> 16).astype(np.uint16)
        r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return r.reshape(d.shape) if d.ndim else r[0]


class Array(Type):
    """An array argument: element type, number of dimensions and layout.

    layout is 'C' (row-major contiguous), 'F' (column-major contiguous) or 'A'
    (any strides).  A 1-d contiguous array is 'C'.  ``shape`` is known for
    ``jk.local.array``/``jk.shared.array`` allocations (a tuple of ints, else
    None): their ``.shape``/``.size`` are compile-time constants, and device
    functions taking them specialise per shape (items per thread, tile sizes).
    """

    __slots__ = ("dtype", "ndim", "layout", "shape", "name")

    def __new__(cls, dtype, ndim, layout, shape=None):
        return Type.__new__(cls, dtype, ndim, layout, shape)

    def _init(self, dtype: Scalar, ndim: int, layout: str, shape=None):
        extra = "" if shape is None else f", shape={shape}"
        self._set(dtype=dtype, ndim=ndim, layout=layout, shape=shape,
                  name=f"array({dtype.name}, {ndim}d, {layout}{extra})")


class Tuple(Type):
    """A heterogeneous tuple of scalars, arrays or tuples."""

    __slots__ = ("types", "name")

    def _init(self, types: tuple):
        self._set(types=types, name="tuple(" + ", ".join(t.name for t in types) + ")")

    @property
    def count(self) -> int:
        return len(self.types)


class Literal(Type):
    """The type of a ``jk.constexpr`` parameter: one compile-time value.

    The value is part of the type, so every distinct value compiles its own
    specialisation and passes no kernel parameter at run time.  Values: bool,
    int, float, str, tuples of them, scalar types (``jk.float32``, ``np.int32``) and
    ``@jit`` functions or well-known operators (``operator.add``, ``min``).
    """

    __slots__ = ("value", "name")

    def _init(self, key, value):
        if isinstance(value, (bool, int, float, str, tuple, Scalar)) or value is None:
            text = repr(value)
        else:
            text = f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', repr(value))}"
        self._set(value=value, name=f"constexpr({text})")

    @staticmethod
    def of(value) -> "Literal":
        """The literal type of ``value``; TypeError when it cannot be a compile-time value."""
        if isinstance(value, Literal):
            return value
        if isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, (np.generic, int, float))):
            value = scalar_from_dtype(value)
        if isinstance(value, tuple):
            value = tuple(Literal.of(v).value for v in value)
        elif not (value is None or isinstance(value, (bool, int, float, str, Scalar)) or callable(value)):
            raise TypeError(f"a constexpr value must be None, a number, bool, str, tuple, scalar type or function, "
                            f"got {type(value).__qualname__}")
        try:
            hash(value)
        except TypeError:
            raise TypeError(f"a constexpr value must be hashable, got {type(value).__qualname__}") from None
        return Literal(_typed_key(value), value)


def _typed_key(value):
    """A key that tells 1, 1.0 and True apart (they are equal in Python)."""
    if isinstance(value, tuple):
        return (tuple, tuple(_typed_key(v) for v in value))
    return (type(value), value)


class NoneType(Type):
    __slots__ = ("name",)

    def _init(self):
        self._set(name="none")


boolean = bool_ = Scalar("b", 8)
int8, int16, int32, int64 = (Scalar("i", b) for b in (8, 16, 32, 64))
uint8, uint16, uint32, uint64 = (Scalar("u", b) for b in (8, 16, 32, 64))
float16, float32, float64 = Scalar("f", 16), Scalar("f", 32), Scalar("f", 64)
bfloat16 = Scalar("f", 16, "bf")
complex64, complex128 = Scalar("c", 64), Scalar("c", 128)
none = NoneType()

SCALARS = (boolean, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float16, bfloat16, float32, float64,
           complex64, complex128)
HAVE_BF16_DTYPE = not isinstance(bfloat16.dtype, _MissingDtype)
_BY_DTYPE = {t.dtype: t for t in SCALARS if not isinstance(t.dtype, _MissingDtype)}


def scalar_from_dtype(dtype) -> Scalar:
    """The jitkit scalar type of a NumPy dtype (or anything ``np.dtype`` accepts)."""
    dt = np.dtype(dtype)
    try:
        return _BY_DTYPE[dt.newbyteorder("=") if dt.byteorder not in "=|" else dt]
    except KeyError:
        raise TypeError(f"jitkit does not support dtype {dt!s}; supported: "
                        + ", ".join(t.name for t in SCALARS)) from None


# bfloat16 with the other types, extending ml_dtypes (which has no rule for int16+ and float16) the
# way NumPy promotes float16: small ints keep bfloat16, wider ints and float16 need float32/float64.
def _bf16_promote(other: Scalar) -> Scalar:
    if other.is_bf16 or other.is_bool or (other.is_int and other.bits == 8):
        return bfloat16
    if other.is_int:
        return float32 if other.bits == 16 else float64
    if other.is_float:
        return float32 if other.bits <= 32 else float64
    return other  # complex64 / complex128


_promote_cache: dict = {}


def promote(a: Scalar, b: Scalar, a_weak: bool = False, b_weak: bool = False) -> Scalar:
    """The common type of two scalars for arithmetic, NEP 50 style.

    A weak operand is a Python literal: it adopts the other operand's type,
    except that a float literal with an integer operand gives float64.
    (Arithmetic on two bools is widened to int64 by the typer, as in Python.)
    """
    if a_weak != b_weak:
        strong, weak = (b, a) if a_weak else (a, b)
        if weak.is_complex and not strong.is_complex:   # NEP 50: keeps float32 precision
            return complex64 if strong is float32 else complex128
        if weak.is_float and not (strong.is_float or strong.is_complex):
            return float64
        if weak.is_int and strong.is_bool:
            return int64
        return strong
    key = (a, b)
    res = _promote_cache.get(key)
    if res is None:
        if a.is_bf16 or b.is_bf16:
            res = _bf16_promote(b if a.is_bf16 else a)
        else:
            res = scalar_from_dtype(np.promote_types(a.dtype, b.dtype))
        _promote_cache[key] = res
    return res
