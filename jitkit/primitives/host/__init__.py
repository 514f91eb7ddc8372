"""Host-callable, device-wide algorithms: ``jk.reduce(x)``, ``jk.scan(x)``, ``jk.sort(x)``...

Each is one call from the host over a whole array, built from the block primitives.  Inputs:

- NumPy arrays: copied to the GPU, the result comes back as NumPy (on the CPU simulator where there
  is no GPU, see :func:`jitkit.set_target`);
- CuPy and PyTorch arrays: used in place, and the result is the same kind of array (``out=``
  writes into one you pass instead);
- numba device arrays: used in place, results are numba device arrays;
- other ``__cuda_array_interface__`` arrays: used in place; results come back as jitkit's own
  ``DeviceBuffer`` (which has ``__cuda_array_interface__`` too).

``op`` / ``fn`` is a ``@jk.jit`` function, a lambda or a plain ``def`` jitkit can compile, or a
well-known operator (``operator.add``, ``min``, ``max``...).  ``stream=`` runs on that stream (any
stream object jitkit kernels take); NumPy results are synchronised, device results are not.

A plan (``jk.plan_reduce(x, op)``, ``plan_scan``, ``plan_sort``, ``plan_argsort``) holds its
temporary device memory and its launches prepared for repeated calls on arrays of the same kind,
dtype and size: the least host time per call.  Repeated one-shot reduce, scan and keys-only sort
calls on 1-d contiguous CuPy arrays (reduce: PyTorch tensors too) replay the same plans, cached
(:mod:`.plan`).

The public names are gathered in :mod:`jitkit.primitives.algorithms` and
:mod:`jitkit.primitives.sort` (and on ``jitkit`` itself); this package re-exports nothing, so
``jitkit.primitives.host.scan`` is the module.  Its modules, bottom up (each imports only those
before it): :mod:`.side` (where an algorithm runs), :mod:`.ops` (operators, identities, accumulator
types), :mod:`.tiling`, :mod:`.plan` (replays, plans, the plan cache), :mod:`.pairs`,
:mod:`.reduce`, :mod:`.scan`, :mod:`.transform`, :mod:`.search`, :mod:`.select`,
:mod:`.histogram`, :mod:`.radix` and :mod:`.merge` (the sorts' device side), :mod:`.sort`,
:mod:`.unique`.
"""
