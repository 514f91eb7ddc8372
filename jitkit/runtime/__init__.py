"""Layer 1 (a peer of the compiler, never importing it): the CUDA driver and what runs on it.

:mod:`.driver` (devices, contexts, modules, memory calls, errors), :mod:`.memory` (device buffers),
:mod:`.interop` (every foreign array and stream kind, kernel argument handlers) and :mod:`.launch`
(the one launch path: binder, parameter buffers, launch site, per-signature fast binders).
"""
