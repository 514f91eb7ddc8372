"""Layer 1, the compiler front half: Python source -> the typed tree every backend consumes.

:mod:`.frontend` parses and locates a kernel's source, :mod:`.infer` types it, :mod:`.tir` is the
typed tree (its intrinsic ops are the vocabulary of :mod:`jitkit.lang.ops`).  Imports only
:mod:`jitkit.lang`.
"""
