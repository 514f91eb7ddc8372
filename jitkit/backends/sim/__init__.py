"""The CPU simulator target: the same typed kernels, run with NumPy on the host (see executor.py)."""

from .executor import BarrierError, SimArray, run_kernel

__all__ = ["BarrierError", "SimArray", "run_kernel"]
