"""Device primitives written in jitkit's kernel language, usable from any ``@jk.jit`` function:

- :mod:`jitkit.primitives.warp` (``jk.warp``): reduce, sum, inclusive/exclusive scan, broadcast.
- :mod:`jitkit.primitives.block` (``jk.block``): reduce, sum, inclusive/exclusive scan (aggregate,
  prefix callback, items per thread), load/store (blocked, striped), blocked<->striped exchange,
  radix sort (keys, key-value pairs, descending, bit ranges), histogram, adjacent difference,
  discontinuity flags.
"""

from . import block, warp

__all__ = ["block", "warp"]
