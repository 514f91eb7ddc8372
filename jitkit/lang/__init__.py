"""Layer 0, the kernel language: what a kernel is written in and what every other layer shares.

Types (:mod:`.types`), the intrinsics users call inside kernels (:mod:`.intrinsics`), the op
vocabulary the typed tree and both backends agree on (:mod:`.ops`), the kernel ABI (:mod:`.abi`),
declarations of foreign device code (:mod:`.declarations`), errors and their display.  Imports
nothing else from jitkit.
"""
