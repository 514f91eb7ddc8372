"""The CPU simulator: runs a typed kernel for every thread of a launch at once.

Each simulated thread is one lane of NumPy vectors.  Divergence is a per-lane
*active mask*: ``if`` runs both branches under complementary masks, loops run
while any lane is still looping, and ``break``/``continue``/``return`` clear
lanes from the mask.  Loads and stores touch only active lanes and check
bounds, so an out-of-bounds access is an ``IndexError`` naming the kernel,
block, thread and source line; a ``syncthreads`` reached by only part of a
block is reported instead of hanging.  Blocks run in chunks of whole blocks
(they are independent), threads of a block in lockstep, which is why
barriers hold by construction.  Scalar operations are :mod:`.scalars`, the
intrinsic ops the rule table of :mod:`.ops`.
"""

from __future__ import annotations

import sys

import numpy as np

from ...lang import types as T
from ...compiler import tir
from ...lang.errors import BarrierError
from . import ops, scalars

MAX_LANES = 1 << 18   # threads simulated per chunk (whole blocks)


class SimArray:
    """An array value: the NumPy array and, for views ``a[i]``, per-lane leading indices."""

    __slots__ = ("base", "prefix")

    def __init__(self, base: np.ndarray, prefix: tuple = ()):
        self.base = base
        self.prefix = prefix

    @property
    def shape(self):
        return self.base.shape[len(self.prefix):]


class _Frame:
    __slots__ = ("vars", "returned", "ret", "loops")

    def __init__(self, nlanes):
        self.vars = {}
        self.returned = np.zeros(nlanes, bool)
        self.ret = None
        self.loops = []        # [break_mask, continue_mask] per enclosing loop


def _where(m, a, b):
    """Per-lane select for any jitkit value (scalars, tuples, arrays)."""
    if isinstance(a, tuple):
        return tuple(_where(m, x, y) for x, y in zip(a, b))
    if isinstance(a, SimArray) or isinstance(b, SimArray):
        if b is None or a is b or bool(np.all(m)):
            return a
        if a.base is b.base and len(a.prefix) == len(b.prefix):
            return SimArray(a.base, tuple(np.where(m, x, y) for x, y in zip(a.prefix, b.prefix)))
        raise NotImplementedError("the simulator cannot select between different arrays per thread")
    return np.where(m, a, b)


def _zeros(ty, n):
    if isinstance(ty, T.Scalar):
        return np.zeros(n, ty.dtype)
    if isinstance(ty, T.Tuple):
        return tuple(_zeros(t, n) for t in ty.types)
    return None


class Executor:
    def __init__(self, func: tir.Function, kernel_name: str, grid: tuple, block: tuple, first_block: int,
                 nblocks: int, shared_bytes: int = 0):
        self.func = func
        self.name = kernel_name
        self.grid, self.block = grid, block
        nb = block[0] * block[1] * block[2]
        self.n = n = nb * nblocks
        lane = np.arange(n, dtype=np.int64)
        blk = first_block + lane // nb
        t = lane % nb
        self.sregs = {
            "tid.x": t % block[0], "tid.y": (t // block[0]) % block[1], "tid.z": t // (block[0] * block[1]),
            "ctaid.x": blk % grid[0], "ctaid.y": (blk // grid[0]) % grid[1], "ctaid.z": blk // (grid[0] * grid[1]),
            "laneid": t % 32,
        }
        self.sregs = {k: v.astype(np.int32) for k, v in self.sregs.items()}
        for d, k in enumerate("xyz"):
            self.sregs[f"ntid.{k}"] = np.int32(block[d])
            self.sregs[f"nctaid.{k}"] = np.int32(grid[d])
        self.lanes_per_block = nb
        self.kernel_frame = None
        self.mask = None
        self.allocs = {}                              # AllocArray site -> storage, for this chunk
        self.shared_bytes = shared_bytes
        self.dynamic = None                           # the chunk's dynamic shared memory, bytes per block
        self.lane = lane
        self.nblocks = nblocks
        self.block_in_chunk = lane // nb
        self.wlane = t % 32                           # lane within its warp
        wpb = (nb + 31) // 32
        self.warp = self.block_in_chunk * wpb + t // 32
        self.nwarps = nblocks * wpb
        self.warp_size = np.minimum(32, nb - (t // 32) * 32)

    # ------------------------------------------------------------- entry
    def run(self, args: list) -> None:
        fr = _Frame(self.n)
        self.kernel_frame = fr
        self._bind(fr, self.func, args)
        self.block_(self.func.body, np.ones(self.n, bool), fr)

    def _bind(self, fr, func, args):
        for name, ty in func.locals.items():
            fr.vars[name] = _zeros(ty, self.n)
        for (name, pty), v in zip(func.runtime_params, args):
            fr.vars[name] = scalars.cast(v, pty, func.locals[name])

    def sreg(self, name):
        return self.sregs[name]

    def grid_barrier(self, e):
        """grid_sync(): every live thread of the grid (all in this chunk) must reach it."""
        alive = ~self.kernel_frame.returned
        off = alive & ~self.mask
        if off.any() and self.mask.any():
            lane = int(np.argmax(off))
            raise BarrierError(f"grid_sync() in kernel {self.name} was reached by only part of the grid: thread "
                               f"{self._thread_str(lane)} of block {self._block_str(lane)} is elsewhere "
                               f"(on the GPU this hangs)\n{e.loc.format()}")

    def barrier(self, e):
        # per block: an error only if some threads are at this barrier and other live ones are not
        alive = (~self.kernel_frame.returned).reshape(-1, self.lanes_per_block)
        here = self.mask.reshape(-1, self.lanes_per_block)
        off = alive & ~here
        bad = here.any(axis=1) & off.any(axis=1)
        if bad.any():
            b = int(np.argmax(bad))
            lane = b * self.lanes_per_block + int(np.argmax(off[b]))
            raise BarrierError(f"syncthreads() in kernel {self.name} was reached by only part of block "
                               f"{self._block_str(lane)}: thread {self._thread_str(lane)} is elsewhere "
                               f"(on the GPU this hangs or corrupts)\n{e.loc.format()}")

    def warp_check(self, e, mask):
        """Every live lane named in a (uniform) mask must execute this warp operation."""
        mask = np.asarray(mask)
        named = ((mask.astype(np.uint64) >> self.wlane.astype(np.uint64)) & 1).astype(bool)
        alive = ~self.kernel_frame.returned
        missing = named & alive & ~self.mask
        here = np.bincount(self.warp, weights=self.mask, minlength=self.nwarps) > 0
        bad = missing & here[self.warp]
        if bad.any():
            lane = int(np.argmax(bad))
            raise BarrierError(f"{e.name[5:]}() in kernel {self.name}: lane {int(self.wlane[lane])} of a warp in "
                               f"block {self._block_str(lane)} is named in the mask but does not execute this "
                               f"call (thread {self._thread_str(lane)})\n{e.loc.format()}")

    def _block_str(self, lane):
        return "(" + ", ".join(str(int(self.sregs[f"ctaid.{k}"][lane])) for k in "xyz") + ")"

    def _thread_str(self, lane):
        return "(" + ", ".join(str(int(self.sregs[f"tid.{k}"][lane])) for k in "xyz") + ")"

    # ------------------------------------------------------------- statements
    def _live(self, mask, fr):
        m = mask & ~fr.returned
        if fr.loops:
            brk, cont = fr.loops[-1]
            m &= ~(brk | cont)
        return m

    def block_(self, stmts, mask, fr):
        for s in stmts:
            m = self._live(mask, fr)
            if not m.any():
                return
            getattr(self, "s_" + type(s).__name__)(s, m, fr)

    def s_Assign(self, s, m, fr):
        v = self.eval(s.value, m, fr)
        old = fr.vars.get(s.name)
        fr.vars[s.name] = v if old is None or m.all() else _where(m, v, old)

    def s_ExprStmt(self, s, m, fr):
        self.eval(s.value, m, fr)

    def s_Store(self, s, m, fr):
        arr = self.eval(s.array, m, fr)
        full = self._full_index(arr, s.indices, m, fr, s)
        v = np.broadcast_to(np.asarray(self.eval(s.value, m, fr), arr.base.dtype), (self.n,))
        arr.base[tuple(np.broadcast_to(ix, (self.n,))[m] for ix in full)] = v[m]

    def s_Assert(self, s, m, fr):
        ok = np.broadcast_to(self.eval(s.cond, m, fr), (self.n,))
        bad = m & ~ok
        if bad.any():
            lane = int(np.argmax(bad))
            raise AssertionError(f"{s.message or 'assertion failed'} in kernel {self.name}, block "
                                 f"{self._block_str(lane)}, thread {self._thread_str(lane)}\n{s.loc.format()}")

    def s_If(self, s, m, fr):
        c = np.broadcast_to(self.eval(s.cond, m, fr), (self.n,))
        self.block_(s.body, m & c, fr)
        self.block_(s.orelse, m & ~c, fr)

    def _loop(self, s, m, fr, cond, before_body, after_body):
        brk, cont = np.zeros(self.n, bool), np.zeros(self.n, bool)
        fr.loops.append([brk, cont])
        normal_exit = np.zeros(self.n, bool)
        run = m.copy()
        try:
            while True:
                run &= ~brk & ~fr.returned
                if not run.any():
                    break
                c = np.broadcast_to(cond(run), (self.n,))
                normal_exit |= run & ~c
                run &= c
                if not run.any():
                    break
                cont[:] = False
                before_body(run)
                self.block_(s.body, run, fr)
                cont[:] = False
                after_body(run & ~brk & ~fr.returned)
        finally:
            fr.loops.pop()
        self.block_(s.orelse, normal_exit & ~fr.returned, fr)

    def s_While(self, s, m, fr):
        self._loop(s, m, fr, lambda run: self.eval(s.cond, run, fr), lambda run: None, lambda run: None)

    def s_ForRange(self, s, m, fr):
        dt = s.start.type.dtype
        start, stop, step = (self.eval(x, m, fr) for x in (s.start, s.stop, s.step))
        ind = [np.broadcast_to(np.asarray(start, dt), (self.n,)).copy()]  # evaluated once, like Python

        def cond(run):
            i = ind[0]
            if s.step_sign > 0:
                return i < stop
            if s.step_sign < 0:
                return i > stop
            return np.where(np.asarray(step) > 0, i < stop, i > stop)

        def before(run):
            fr.vars[s.var] = _where(run, ind[0], fr.vars[s.var])

        def after(run):
            ind[0] = np.where(run, (ind[0] + step).astype(dt), ind[0])

        self._loop(s, m, fr, cond, before, after)

    def s_Break(self, s, m, fr):
        fr.loops[-1][0] |= m

    def s_Continue(self, s, m, fr):
        fr.loops[-1][1] |= m

    def s_Return(self, s, m, fr):
        if s.value is not None and not isinstance(s.value.type, T.NoneType):
            v = self.eval(s.value, m, fr)
            fr.ret = v if fr.ret is None else _where(m, v, fr.ret)
        fr.returned |= m

    # ------------------------------------------------------------- expressions
    def eval(self, e, m, fr):
        return getattr(self, "e_" + type(e).__name__)(e, m, fr)

    def e_Const(self, e, m, fr):
        if isinstance(e.type, T.NoneType):
            return None
        return e.type(e.value)

    def e_Var(self, e, m, fr):
        return fr.vars[e.name]

    def e_Cast(self, e, m, fr):
        return scalars.cast(self.eval(e.value, m, fr), e.value.type, e.type)

    def e_BinOp(self, e, m, fr):
        return scalars.arith(e.op, self.eval(e.lhs, m, fr), self.eval(e.rhs, m, fr), e.type)

    def e_Compare(self, e, m, fr):
        return scalars.compare(e.op, self.eval(e.lhs, m, fr), self.eval(e.rhs, m, fr), e.lhs.type)

    def e_UnaryOp(self, e, m, fr):
        return scalars.unary(e.op, self.eval(e.operand, m, fr), e.type)

    def e_BoolOp(self, e, m, fr):
        remaining = m.copy()
        out = np.zeros(self.n, e.type.dtype)
        last = len(e.values) - 1
        for k, raw in enumerate(e.values):
            v = self.eval(raw, remaining, fr)
            conv = scalars.cast(v, raw.type, e.type)
            if k == last:
                out = np.where(remaining, conv, out)
                break
            t = np.broadcast_to(scalars.truth(v, raw.type), (self.n,))
            stop = ~t if e.op == "and" else t
            out = np.where(remaining & stop, conv, out)
            remaining = remaining & ~stop
            if not remaining.any():
                break
        return out

    def e_IfExp(self, e, m, fr):
        c = np.broadcast_to(self.eval(e.cond, m, fr), (self.n,))
        a = self.eval(e.then, m & c, fr) if (m & c).any() else _zeros(e.type, self.n)
        b = self.eval(e.orelse, m & ~c, fr) if (m & ~c).any() else _zeros(e.type, self.n)
        return _where(c, a, b)

    def _full_index(self, arr: SimArray, indices, m, fr, node):
        shape = arr.shape
        out = list(arr.prefix)
        for d, ix in enumerate(indices):
            i = np.asarray(self.eval(ix, m, fr)).astype(np.int64)
            n = shape[d]
            if ix.type.is_signed:
                i = np.where(i < 0, i + n, i)
            bad = m & ((i < 0) | (i >= n))
            if np.any(bad):
                lane = int(np.argmax(np.broadcast_to(bad, (self.n,))))
                raw = int(np.broadcast_to(np.asarray(self.eval(ix, m, fr)), (self.n,))[lane])
                raise IndexError(f"index {raw} is out of bounds for axis {d + len(arr.prefix)} with size {n} "
                                 f"in kernel {self.name}, block {self._block_str(lane)}, thread "
                                 f"{self._thread_str(lane)}\n{node.loc.format()}")
            out.append(np.where(m, i, 0) if n > 0 else i)
        return out

    def e_Load(self, e, m, fr):
        arr = self.eval(e.array, m, fr)
        full = self._full_index(arr, e.indices, m, fr, e)
        if arr.base.size == 0:
            return np.zeros(self.n, arr.base.dtype)
        return arr.base[tuple(full)]

    def e_SubArray(self, e, m, fr):
        arr = self.eval(e.array, m, fr)
        full = self._full_index(arr, e.indices, m, fr, e)
        return SimArray(arr.base, tuple(full))

    def e_ArrayAttr(self, e, m, fr):
        arr = self.eval(e.array, m, fr)
        if e.attr == "size":
            return np.int64(int(np.prod(arr.shape)))
        if e.attr == "shape":
            return np.int64(arr.shape[e.dim])
        return np.int64(arr.base.strides[len(arr.prefix) + e.dim])

    def e_AllocArray(self, e, m, fr):
        arr = self.allocs.get(id(e))
        if arr is None:  # the GPU leaves new shared/local memory undefined; the simulator zeroes it
            if e.space == "dynamic":  # every dynamic array views the same bytes, as on the GPU
                if self.dynamic is None:
                    self.dynamic = np.zeros((self.nblocks, self.shared_bytes), np.uint8)
                isz = e.type.dtype.itemsize
                view = self.dynamic[:, :self.shared_bytes // isz * isz].view(e.type.dtype.dtype)
                arr = SimArray(view, (self.block_in_chunk,))
            elif e.space == "shared":
                arr = SimArray(np.zeros((self.nblocks, *e.shape), e.type.dtype.dtype), (self.block_in_chunk,))
            else:
                arr = SimArray(np.zeros((self.n, *e.shape), e.type.dtype.dtype), (self.lane,))
            self.allocs[id(e)] = arr
        return arr

    def e_Atomic(self, e, m, fr):
        """Atomics as if the active lanes ran one after another in lane order; returns old values."""
        arr = self.eval(e.array, m, fr)
        full = self._full_index(arr, e.indices, m, fr, e)
        base = arr.base
        dt = base.dtype
        vals = [np.broadcast_to(np.asarray(self.eval(v, m, fr)).astype(dt), (self.n,)) for v in e.values]
        old = np.zeros(self.n, dt)
        lanes = np.nonzero(m)[0]
        if lanes.size == 0:
            return old
        idx = tuple(np.broadcast_to(ix, (self.n,))[lanes] for ix in full)
        keys = np.ravel_multi_index(idx, base.shape)
        before = base[idx]
        if e.op in ("add", "sub"):
            v = vals[0][lanes] if e.op == "add" else np.negative(vals[0][lanes])
            order = np.argsort(keys, kind="stable")
            k, vs = keys[order], v[order]
            excl = np.cumsum(vs, dtype=dt) - vs                  # running sum before each lane
            starts = np.r_[True, k[1:] != k[:-1]]
            first = np.maximum.accumulate(np.where(starts, np.arange(k.size), 0))
            within = excl - excl[first]                          # ... within its address group
            got = np.empty_like(vs)
            got[order] = before[order] + within
            np.add.at(base, idx, v)
            old[lanes] = got
            return old
        args = [v[lanes] for v in vals]
        if np.unique(keys).size == keys.size:                   # distinct addresses: one vector step
            base[idx] = scalars.atomic_update(e.op, before, *args)
            old[lanes] = before
            return old
        for j, lane in enumerate(lanes):                         # collisions: serialise in lane order
            at = tuple(ix[j] for ix in idx)
            cur = base[at]
            old[lane] = cur
            base[at] = scalars.atomic_update(e.op, cur, *(a[j] for a in args))
        return old

    def e_Print(self, e, m, fr):
        """One line per active thread, in thread order, formatted as the GPU's vprintf would."""
        vals = [None if isinstance(p, str) else np.broadcast_to(self.eval(p, m, fr), (self.n,)) for p in e.parts]
        out = []
        for lane in np.nonzero(m)[0]:
            text = []
            for p, v in zip(e.parts, vals):
                if v is None:
                    text.append(p)
                elif p.type.is_bool:
                    text.append("True" if v[lane] else "False")
                elif p.type.is_complex:
                    text.append("(%g%+gj)" % (float(v[lane].real), float(v[lane].imag)))
                elif p.type.is_float:
                    text.append("%g" % float(v[lane]))
                else:
                    text.append(str(int(v[lane])))
            out.append("".join(text))
        sys.stdout.write("".join(out))
        return None

    def e_ExternCall(self, e, m, fr):
        if e.decl.sim is None:
            raise NotImplementedError(f"kernel {self.name} calls {e.decl.name}(), linked device code the CPU "
                                      f"simulator cannot run; give jk.declare_device(..., sim=fn) a NumPy "
                                      f"equivalent\n{e.loc.format()}")
        args = []
        for p, a in zip(e.decl.params, e.args):
            v = self.eval(a, m, fr)
            args.append(v.base if isinstance(p, tuple) else np.broadcast_to(v, (self.n,)))
        return self._stand_in(e.decl.sim, args, e.type)

    def e_InlineAsm(self, e, m, fr):
        if e.sim is None:
            raise NotImplementedError(f"kernel {self.name} uses inline PTX, which the CPU simulator cannot run; "
                                      f"give jk.asm(..., sim=fn) a NumPy equivalent\n{e.loc.format()}")
        return self._stand_in(e.sim, [np.broadcast_to(self.eval(a, m, fr), (self.n,)) for a in e.args], e.type)

    def _stand_in(self, fn, args, ty):
        """Call a user's NumPy stand-in (``sim=``) for code the simulator cannot run; one value per lane."""
        out = fn(*args)
        return None if isinstance(ty, T.NoneType) else np.broadcast_to(np.asarray(out), (self.n,)).astype(ty.dtype)

    def e_MakeTuple(self, e, m, fr):
        return tuple(self.eval(x, m, fr) for x in e.items)

    def e_TupleGet(self, e, m, fr):
        return self.eval(e.tuple, m, fr)[e.index]

    def e_Op(self, e, m, fr):
        args = [self.eval(a, m, fr) for a in e.args]
        self.mask = m
        return ops.lower_op(self, e, args)

    def e_Call(self, e, m, fr):
        args = [self.eval(a, m, fr) for a in e.args]
        callee = _Frame(self.n)
        callee.returned = ~m          # lanes not calling are "done" from the callee's point of view
        self._bind(callee, e.func, args)
        self.block_(e.func.body, m, callee)
        return callee.ret


def run_kernel(func: tir.Function, name: str, grid: tuple, block: tuple, args: list, shared_bytes: int = 0) -> None:
    """Simulate ``func[grid, block, 0, shared_bytes](*args)``; ``args`` are already simulator values."""
    nb = block[0] * block[1] * block[2]
    nblocks = grid[0] * grid[1] * grid[2]
    per_chunk = nblocks if func.cooperative else max(1, MAX_LANES // nb)   # grid_sync: the whole grid at once
    with np.errstate(all="ignore"):
        for first in range(0, nblocks, per_chunk):
            Executor(func, name, grid, block, first, min(per_chunk, nblocks - first), shared_bytes).run(args)
