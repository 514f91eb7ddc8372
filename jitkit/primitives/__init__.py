"""Device primitives written in jitkit's kernel language, usable from any ``@jk.jit`` function:

- :mod:`jitkit.primitives.warp` (``jk.warp``): reduce, sum, inclusive/exclusive scan, broadcast,
  load/store (direct, striped, vectorized, transposed), merge sort with a comparator.
- :mod:`jitkit.primitives.block` (``jk.block``): reduce, sum, inclusive/exclusive scan (aggregate,
  prefix callback, items per thread), load/store (direct, striped, vectorized, transposed,
  warp-transposed), blocked<->striped exchange, radix sort (keys, key-value pairs, descending, bit
  ranges), merge sort with a comparator, run-length decode, histogram, adjacent difference,
  discontinuity flags.

Reduce and scan take scalars or pairs (2-tuples) as values.
"""

from . import block, warp

__all__ = ["block", "warp"]
