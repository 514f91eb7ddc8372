"""Jupyter support: kernels that display themselves, compile errors with the source line
highlighted, progress for anything slower than a second.

- A ``@jk.jit`` function shown in a notebook (the last expression of a cell) renders as a card:
  its compiled signatures with registers, shared, local and stack bytes per signature, and
  expandable NVVM IR, PTX and SASS (see :func:`kernel_html`).
- A :class:`~jitkit.CompileError` raised in a cell renders the failing line in its context, the
  column marked, then each call site (see :func:`error_html`); the plain traceback follows.  This
  handler installs itself when jitkit is imported inside IPython; ``%load_ext jitkit`` does the same.
- Compiles that take over a second show what is compiling and for how long (see :func:`progress`),
  as do the loops you wrap in ``jk.notebook.progress(label, total)``.

Outside IPython nothing here prints; ``JITKIT_PROGRESS=1`` shows progress on stderr in a terminal,
``JITKIT_PROGRESS=0`` turns it off in notebooks too.
"""

from __future__ import annotations

import contextvars
import html
import os
import sys
import threading
import time

from .lang.display import STYLE as _STYLE, error_html

__all__ = ["kernel_html", "error_html", "progress", "load_ipython_extension"]

DELAY = 1.0          # seconds before a progress line appears
MAX_TEXT = 200_000   # characters of IR / PTX / SASS shown per section



# ------------------------------------------------------------------ kernels
def kernel_html(kernel) -> str:
    """The HTML card of a ``@jk.jit`` function (what ``kernel._repr_html_()`` returns).

    One row per compiled (signature, arch, block): registers, shared/local/stack bytes (read from
    the cubin, no GPU needed; needs cuobjdump: ``pip install jitkit[sass]``) and compile time; for
    each, expandable NVVM IR, PTX and SASS.  Signatures typed for the CPU simulator are listed too."""
    from .build.pipeline import signature_str
    name = html.escape(kernel.__qualname__)
    params = ", ".join(kernel.param_names)
    doc = (kernel.__doc__ or "").strip().splitlines()
    parts = [_STYLE, '<div class="jitkit-card">',
             f"<div><b>@jk.jit</b> <code>{name}({html.escape(params)})</code>"
             + (f" &mdash; {html.escape(doc[0])}" if doc else "") + "</div>"]
    results = list(kernel.specializations.items())
    sims = kernel.simulated
    if not results and not sims:
        parts.append("<div><i>not compiled yet</i>: it compiles on its first launch, or with "
                     "<code>kernel.compile(signature, arch='sm_90')</code> (no GPU needed)</div>")
    if results:
        parts.append("<table><tr><th>signature</th><th>arch</th><th>block</th><th>registers</th>"
                     "<th>shared bytes</th><th>local bytes</th><th>stack bytes</th><th>compile</th></tr>")
        for (argtypes, arch, block), res in results:
            usage = _resources(res)
            cells = [signature_str(argtypes), arch, "any" if block is None else "x".join(map(str, block))]
            if isinstance(usage, dict):
                cells += [usage.get("registers", "?"), usage.get("shared_bytes", "?"), usage.get("local_bytes", "?"),
                          usage.get("stack_bytes", "?")]
            else:
                cells += [usage, "", "", ""]
            cells.append("disk cache" if res.from_disk else f"{sum(res.timings.values()) * 1e3:.0f} ms")
            parts.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
        parts.append("</table>")
        for (argtypes, arch, block), res in results:
            label = html.escape(f"{signature_str(argtypes)} for {arch}")
            parts.append(f"<details><summary>{label}</summary>")
            for title, text in (("NVVM IR", lambda: res.ir), ("PTX", lambda: res.ptx),
                                ("SASS", lambda: _sass(res))):
                body = _text(text)
                lines = body.count("\n") + 1
                parts.append(f"<details><summary>{title} ({lines} lines)</summary><pre>{html.escape(body)}</pre>"
                             "</details>")
            parts.append("</details>")
    if sims:
        shown = sorted({signature_str(tys) + (f", block {'x'.join(map(str, block))}" if block else "")
                        for tys, block in sims})
        parts.append("<div>typed for the CPU simulator: " + ", ".join(f"<code>{html.escape(s)}</code>"
                                                                       for s in shown) + "</div>")
    parts.append("</div>")
    return "".join(parts)


def _resources(res):
    from .lang import errors
    from .build import toolchain
    try:
        return toolchain.resource_usage(res.cubin)[res.name]
    except (errors.ToolchainError, KeyError, OSError) as exc:
        return f"unavailable ({str(exc).splitlines()[0][:80]})"


def _sass(res) -> str:
    from .build import toolchain
    return toolchain.disassemble(res.cubin)


def _text(make) -> str:
    from .lang import errors
    try:
        text = make()
    except (errors.JitkitError, OSError) as exc:
        return f"unavailable: {exc}"
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + f"\n... ({len(text) - MAX_TEXT} more characters: use kernel.inspect_*())"
    return text


# ------------------------------------------------------------------ compile errors
def _show_compile_error(shell, etype, value, tb, tb_offset=None):
    """IPython's handler for CompileError: the HTML card, then the usual text traceback."""
    try:
        from IPython.display import HTML, display
        display(HTML(error_html(value)))
    except Exception:   # noqa: BLE001 - the text traceback below still tells the whole story
        pass
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)


def load_ipython_extension(ip) -> None:
    """``%load_ext jitkit``: render compile errors as HTML in this IPython session."""
    from .lang.errors import CompileError
    ip.set_custom_exc((CompileError,), _show_compile_error)


def _ipython():
    """The running IPython shell, or None (never imports IPython: it is loaded already or absent)."""
    ipy = sys.modules.get("IPython")
    if ipy is None:
        return None
    try:
        return ipy.get_ipython()
    except Exception:   # noqa: BLE001
        return None


def auto_install() -> None:
    """Called on ``import jitkit``: inside a running IPython, install the error handler."""
    ip = _ipython()
    if ip is not None and hasattr(ip, "set_custom_exc"):
        load_ipython_extension(ip)


# ------------------------------------------------------------------ progress
def _mode() -> str | None:
    """'notebook', 'terminal' or None (off)."""
    env = os.environ.get("JITKIT_PROGRESS")
    if env == "0":
        return None
    if type(_ipython()).__name__ == "ZMQInteractiveShell":
        return "notebook"
    return "terminal" if env == "1" else None


class progress:
    """``with jk.notebook.progress("label", total=n) as p: ... p.update(i)``: a status line that
    appears once the block has run for a second (:data:`DELAY`), shows the elapsed time (and i of
    total), and ends with the total time.  Quiet for anything faster, and outside notebooks unless
    ``JITKIT_PROGRESS=1``.  jitkit wraps every kernel compile in one."""

    def __init__(self, label: str, total: int | None = None):
        self.label = label
        self.total = total
        self.done = 0
        self.shown = False
        self._mode = _mode()
        self._handle = None
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()

    def __enter__(self):
        self.t0 = time.perf_counter()
        if self._mode is not None:     # the thread runs in this context: ipykernel finds the cell's parent there
            ctx = contextvars.copy_context()
            self._thread = threading.Thread(target=ctx.run, args=(self._tick,), name="jitkit-progress", daemon=True)
            self._thread.start()
        return self

    def update(self, done: int) -> None:
        """Record progress: ``done`` of ``total`` finished."""
        self.done = done

    def _line(self, final: bool) -> str:
        dt = time.perf_counter() - self.t0
        count = f" {self.done}/{self.total}" if self.total is not None else ""
        if final:
            return f"jitkit: {self.label}{count}: done in {dt:.1f} s"
        bar = ""
        if self.total:
            k = int(20 * min(self.done, self.total) / self.total)
            bar = " [" + "#" * k + "." * (20 - k) + "]"
        return f"jitkit: {self.label}{bar}{count} ... {dt:.1f} s"

    def _show(self, final: bool = False) -> None:
        with self._lock:
            text = self._line(final)
            if self._mode == "terminal":
                sys.stderr.write("\r" + text + ("\n" if final else ""))
                sys.stderr.flush()
                return
            from IPython.display import display
            if self._handle is None:
                self._handle = display({"text/plain": text}, raw=True, display_id=True)
            else:
                self._handle.update({"text/plain": text}, raw=True)

    def _tick(self) -> None:
        if self._stop.wait(DELAY):
            return
        self.shown = True
        while True:
            try:
                self._show()
            except Exception:   # noqa: BLE001 - progress must never break the work it reports on
                return
            if self._stop.wait(0.5):
                return

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            if self.shown:
                try:
                    self._show(final=True)
                except Exception:   # noqa: BLE001
                    pass
        return False
