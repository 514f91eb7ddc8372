"""The host algorithms' hot paths, one mechanism for all of them: :class:`Replay`; and the one cache
of plans, :data:`PLANS`.

A replay is an algorithm's launches recorded once as prepared launches (kernel, grid, block,
stream, dynamic shared bytes, the parameters packed) in which the few parameters that vary per call
are marked by their role:

- :data:`X`: the input's data pointer;
- :data:`OUT`: the result's data pointer;
- :data:`SLOT`: the result's index in a ring of results (one allocation of many 0-d results);
- :data:`FIRST_TILE`, :data:`EPOCH`: a look-back scan's first tile id and epoch.

A call checks the input (class, dtype and shape by identity tests, contiguity) and the thread's
device (once), takes the per-call steps -- make the result or take the next slot of the ring, zero
a state buffer, take tile ids -- writes the varying parameters and launches, all under the plan's
one lock (each prepared launch has one parameter buffer).  Its code is generated for the recorded
steps (:attr:`Replay.source`), so a call does those and nothing else: these paths were tuned to
8.9 us of host time for a 2^20 f32 ``jk.reduce``, 13 us for a 2^16 scan, 41 us for a 2^16 sort
(H100).  Only 1-d contiguous CuPy arrays and CUDA PyTorch tensors replay; a replay that cannot serve
an input returns None and the caller takes its general path.

:data:`PLANS` keys plans (and the scratch state plans keep) by ``(algorithm, array type or kind,
dtype, shape, parameters..., target)`` and drops the least recently used entry past
:data:`MAX_PLANS`.  :data:`HOT_TYPES` holds the array classes some cached plan replays for: the
algorithms' front doors test ``type(x) in HOT_TYPES`` before building a key.
"""

from __future__ import annotations

import collections
import math
import threading

from ...runtime import driver
from ...runtime.interop import array_kind, class_kind, is_contiguous, numpy_dtype, stream_handle
from .side import Side

__all__ = ["X", "OUT", "SLOT", "FIRST_TILE", "EPOCH", "Step", "Replay", "Plan", "PlanCache", "PLANS", "MAX_PLANS",
           "HOT_TYPES", "unplanned"]

X, OUT, SLOT, FIRST_TILE, EPOCH = "x", "out", "slot", "first tile", "epoch"
_ROLES = (X, OUT, SLOT, FIRST_TILE, EPOCH)

# how generated code reads an array's data pointer and checks that it is 1-d contiguous (shape aside)
_POINTER = {"cupy": "{}.data.ptr", "torch": "{}.data_ptr()"}
_CONTIGUOUS = {"cupy": "x.strides[0] == STEP", "torch": "x.is_cuda and x.stride(0) == 1"}


class Step:
    """One launch to record: ``kernel[grid, block, stream, shared](*args)``.  ``vary`` marks scalar
    parameters by role, ``{argument index: role}``; array arguments at the input's or the result's
    address are marked :data:`X` or :data:`OUT` by :class:`Replay` itself (views included)."""

    __slots__ = ("kernel", "grid", "block", "args", "shared", "stream", "vary")

    def __init__(self, kernel, grid, block, args: tuple, shared: int = 0, stream=None, vary: dict | None = None):
        self.kernel, self.grid, self.block, self.args = kernel, grid, block, tuple(args)
        self.shared, self.stream, self.vary = shared, stream, vary or {}


def _address(a):
    """The data pointer of a device array argument (None for anything else)."""
    kind = class_kind(a)
    if kind == "cupy":
        return a.data.ptr
    if kind == "torch":                           # (not every dtype has a __cuda_array_interface__)
        return a.data_ptr() if a.is_cuda else None
    iface = getattr(a, "__cuda_array_interface__", None)
    return None if iface is None else iface["data"][0]


def unplanned(x):
    """The ``run`` of a plan without a replay: never serves (the caller takes its general path)."""
    return None


class Replay:
    """Recorded launches replayed per call: ``replay.run(x)`` gives the result, or None where ``x``
    is not like the example or this thread's device is not the one the launches were loaded for.

    ``steps`` are recorded with the example input ``x`` and ``result`` among their arguments:
    ``result`` is an array like every call's result (made per call by ``new()``), or with ``ring``
    the first ring of ``ring`` results (the call returns ``ring_array[i]``; ``new()`` makes the next
    ring).  ``zero``: a DeviceBuffer zeroed (on ``stream``) before the launches; ``tiles``: an object
    whose ``next()`` gives the (first tile id, epoch) of a call.  Arguments not marked keep their
    recorded values, and the replay keeps them alive.

    :attr:`prepared` is False where the launches cannot be prepared (the simulator, host arrays,
    debug checks, cooperative kernels, other kinds of array than CuPy and PyTorch, n-d
    input): ``run`` then always gives None.  Use one replay from any number of threads: calls take its lock."""

    def __init__(self, steps: list, x, result, new, ring: int = 0, zero=None, tiles=None, stream=None):
        self.run = unplanned
        self.source = None
        self.device = None
        self.launches = self.keep = ()
        self.lock = threading.Lock()
        self.slots, self.next = (result, 0) if ring else (None, 0)
        kind = array_kind(x)
        if kind not in _POINTER or len(x.shape) != 1 or array_kind(result) != kind:
            return
        launches = []
        for st in steps:
            pl = st.kernel.prepare(st.kernel[st.grid, st.block, st.stream, st.shared], st.args)
            if pl is None:
                return
            launches.append(pl)
        if any(pl.device is not launches[0].device for pl in launches):
            return
        at = {_address(x): X, _address(result): OUT}
        sets = {role: [] for role in _ROLES}
        keep = []
        for j, (st, pl) in enumerate(zip(steps, launches)):
            for i, a in enumerate(st.args):
                role = st.vary.get(i) or at.get(_address(a))
                if role is None:
                    keep.append(a)
                else:
                    sets[role].append(f"S{j}({pl.slot(i)}, {'i' if role == SLOT else _VALUE[role]})")
        env = {"thread_device": driver.thread_device, "DEVICE": launches[0].device, "LOCK": self.lock, "R": self,
               "CLS": type(x), "DT": x.dtype, "SHAPE": tuple(x.shape), "STEP": x.itemsize if kind == "cupy" else 1,
               "NEW": new, "RING": ring, "TILES": tiles, "MEMSET": driver.memset_d8}
        for j, pl in enumerate(launches):
            env[f"S{j}"], env[f"L{j}"] = pl.set, pl.__call__
        ptr = _POINTER[kind]
        src = ["def run(x):",
               f"    if type(x) is not CLS or x.dtype is not DT or x.shape != SHAPE or not ({_CONTIGUOUS[kind]}) \\",
               "            or thread_device() is not DEVICE:",
               "        return None"]
        if not ring:
            src.append("    res = NEW()")
        src.append("    with LOCK:")
        body = []
        if ring:                                  # each slot is used once: a result stays valid
            body += ["i = R.next",
                     "if i == RING:",
                     "    R.slots = slots = NEW()",
                     "    i = 0",
                     f"    p = {ptr.format('slots')}",
                     *["    " + s for s in sets[OUT]],
                     "else:",
                     "    slots = R.slots",
                     "R.next = i + 1",
                     *sets[SLOT]]
        elif sets[OUT]:
            body += [f"p = {ptr.format('res')}", *sets[OUT]]
        if zero is not None:
            env["ZPTR"], env["ZBYTES"], env["ZSTREAM"] = zero.ptr, zero.nbytes, stream_handle(stream)
            body.append("MEMSET(ZPTR, 0, ZBYTES, ZSTREAM)")
        if tiles is not None:
            body += ["first, epoch = TILES.next()", *sets[FIRST_TILE], *sets[EPOCH]]
        body += [f"p = {ptr.format('x')}", *sets[X]]
        body += [f"L{j}()" for j in range(len(launches))]
        src += ["        " + b for b in body]
        src.append("    return slots[i]" if ring else "    return res")
        self.source = "\n".join(src) + "\n"
        name = getattr(steps[-1].kernel, "__name__", "kernels")
        exec(compile(self.source, f"<jitkit replay of {name}>", "exec"), env)
        self.run, self.device, self.launches, self.keep = env["run"], launches[0].device, tuple(launches), keep

    @property
    def prepared(self) -> bool:
        """Whether inputs like the example replay prepared launches."""
        return self.run is not unplanned


_VALUE = {X: "p", OUT: "p", FIRST_TILE: "first", EPOCH: "epoch"}   # the generated code's names for them


class Plan:
    """What the algorithms' plan objects share: the side, dtype and size of the arrays a plan is for,
    its :class:`Replay` (recorded for the example, or for the first call that can replay when the
    example could not: a strided view, say) and the rule for arrays it was not made for, which
    :meth:`check` applies: another kind, dtype or size raises ValueError; any other difference
    (another shape of that size, strides, ``out=``, ``stream=``) takes the algorithm's general path
    with the plan's parameters.

    A subclass sets ``verb`` (for messages), implements :meth:`record` and calls in ``__call__``
    ``self.run(x)`` first, then :meth:`first_replay` while ``self.replay`` is None, then its general
    path."""

    verb = "serves"

    def __init__(self, x, stream):
        self.side = Side(x, stream)
        self.stream = stream
        self.dtype = numpy_dtype(x)
        self.n = math.prod(x.shape)
        self.replay: Replay | None = None
        self.run = unplanned                      # the replay's run: result or None
        self._dtype_obj = x.dtype
        self._lock = threading.Lock()

    @property
    def prepared(self) -> bool:
        """Whether arrays like the example replay prepared launches (the least host time per call)."""
        return self.replay is not None and self.replay.prepared

    def record(self, x) -> Replay:
        """The plan's launches for ``x`` (1-d, contiguous, of the plan's kind, dtype and size) recorded."""
        raise NotImplementedError

    def replayable(self, x) -> bool:
        """Whether a replay could serve ``x``: a 1-d contiguous CuPy array or CUDA PyTorch tensor of the
        plan's kind, dtype and size, on the GPU."""
        side = self.side
        return side.gpu and side.kind in _POINTER and self.n > 0 and len(x.shape) == 1 and x.shape[0] == self.n \
            and array_kind(x) == side.kind and x.dtype == self._dtype_obj and is_contiguous(x)

    def prepare_for(self, x) -> None:
        """Record the replay with ``x`` where there is none yet and ``x`` can replay."""
        if self.replay is None and self.replayable(x):
            with self._lock:
                if self.replay is None:
                    self.replay = self.record(x)
                    self.run = self.replay.run

    def first_replay(self, x):
        """The result of replaying for ``x`` after recording the replay with it (None where ``x`` cannot
        replay: take the general path)."""
        self.prepare_for(x)
        return self.run(x)

    def check(self, x) -> None:
        """ValueError where ``x`` is of another kind, dtype or size than the plan's."""
        kind = array_kind(x)
        if (x.dtype is not self._dtype_obj and numpy_dtype(x) != self.dtype) or math.prod(x.shape) != self.n or \
                (kind if kind != "torch_cpu" else "numpy") != self.side.kind:
            raise ValueError(f"this plan {self.verb} {self.n} items of {self.dtype} ({self.side.kind} arrays); got "
                             f"{tuple(x.shape)} of {numpy_dtype(x)} ({kind})")


MAX_PLANS = 64


class PlanCache:
    """A bounded, thread-safe mapping of plan keys to plans: a hit marks the entry used, an insert
    past ``size`` entries drops the least recently used one."""

    def __init__(self, size: int):
        self.size = size
        self._entries: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        """The plan cached under ``key``, or None."""
        entries = self._entries
        plan = entries.get(key)
        if plan is not None:
            try:
                entries.move_to_end(key)
            except KeyError:                      # dropped by another thread meanwhile
                pass
        return plan

    def put(self, key, plan):
        """Cache ``plan`` under ``key`` (replacing what was there); returns ``plan``."""
        with self._lock:
            entries = self._entries
            entries[key] = plan
            entries.move_to_end(key)
            while len(entries) > self.size:
                entries.popitem(last=False)
        return plan

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> list:
        """(key, plan) pairs, least recently used first (a copy)."""
        with self._lock:
            return list(self._entries.items())


PLANS = PlanCache(MAX_PLANS)
HOT_TYPES: set = set()
