"""How the host algorithms cut an array into tiles and blocks, and the handshake that lets a grid
finish a reduction in one launch.

- ``THREADS``, ``TILE_BYTES``, :func:`items_per_thread`: the streaming kernels' block size and the
  items each thread moves per tile (four 16-byte loads in flight);
- :func:`segments`: n items cut into one run of whole tiles per block slot;
- :func:`last_block` (kernel language): a block publishes its partial and learns whether it is the
  last of the grid to do so (used by :mod:`.reduce` and :mod:`.pairs`).
"""

from __future__ import annotations

import numpy as np

from ...dispatcher import jit
from ...lang.intrinsics import atomic, blockIdx, gridDim, shared, syncthreads, threadfence, threadIdx
from ...lang.types import int32
from .. import warp as _w
from .side import max_blocks

__all__ = ["THREADS", "TILE_BYTES", "items_per_thread", "segments", "last_block"]

THREADS = 256
TILE_BYTES = 64          # per thread and tile in the streaming kernels: four 16-byte loads in flight


def items_per_thread(dtype, tile_bytes: int = TILE_BYTES) -> int:
    """Items of ``dtype`` per thread and tile: ``tile_bytes`` of them, 4 to 32."""
    return max(4, min(32, tile_bytes // np.dtype(dtype).itemsize))


def segments(side, n: int, tile: int, per_sm: int = 8):
    """(segment length, blocks): n items cut into runs of whole tiles, about one per block slot."""
    tiles = max(1, -(-n // tile))
    per = -(-tiles // min(max_blocks(side, per_sm), tiles))
    seg = per * tile
    return seg, max(1, -(-n // seg))


@jit
def last_block(partials, counter, total):
    """Publish this block's total (a value or a pair) in partials[b]; whether this block is the last
    of the grid to do so (the same in all its threads; the counter is a device-scope atomic)."""
    last = shared.array(1, int32)
    if threadIdx.x == 0:
        _w.put_value(partials, blockIdx.x, total)
        threadfence()                                   # the partial before the count (release)
        last[0] = int32(atomic.add(counter, 0, 1) == gridDim.x - 1)
    syncthreads()
    if last[0] == 0:
        return False
    threadfence()                                       # every partial after the count (acquire)
    return True
