"""The kernel ABI: how one argument type becomes flat kernel parameters, and the debug error record.

Lowering (which declares the kernel's parameters) and the runtime packer
(which fills them at launch) both read this table, so they cannot drift.

- scalar: one parameter of its own type (bool as one byte); complex as two (real, imaginary)
- array:  data pointer, then ``ndim`` int64 extents; arrays of layout 'A'
          also pass ``ndim`` int64 strides in bytes
- tuple:  its items, flattened in order
- constexpr (``T.Literal``): nothing; the value is compiled in
"""

from __future__ import annotations

from . import types as T

PTR = "ptr"

# debug=True kernels record the first failed check in this module-scope array of ERROR_WORDS int64
# words (flag, site id, index, extent, axis, thread x/y/z, block x/y/z), which the runtime reads
ERROR_SYMBOL = "__jitkit_error"
ERROR_WORDS = 11


def param_slots(ty: T.Type) -> list:
    """Flat parameter slots of one argument: ``T.Scalar`` instances or ``PTR``."""
    if isinstance(ty, T.Scalar):
        return [ty.part, ty.part] if ty.is_complex else [ty]
    if isinstance(ty, T.Array):
        n = ty.ndim * (2 if ty.layout == "A" else 1)
        return [PTR] + [T.int64] * n
    if isinstance(ty, T.Tuple):
        return [s for t in ty.types for s in param_slots(t)]
    if isinstance(ty, T.Literal):
        return []
    raise TypeError(f"{ty} cannot be a kernel parameter")
