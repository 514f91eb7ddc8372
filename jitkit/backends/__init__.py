"""Layer 2, the backends: the typed tree run by two targets side by side, neither importing the other.

:mod:`.nvvm` lowers it to NVVM IR (llvmlite) for libNVVM; :mod:`.sim` runs it on the CPU with NumPy.
Each implements every op of :mod:`jitkit.lang.ops` with one rule in its own ``ops.Rules`` table.
"""
