"""jitkit's exceptions and the one place that formats a source location.

Every error a user can cause while compiling is a :class:`CompileError` (or the
:class:`TypingError` subclass) carrying the kernel's file, line and column, the
source line and a caret, plus a hint at what is supported instead.  Driver
failures are :class:`CudaError`; a missing toolkit piece is :class:`ToolchainError`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "JitkitError",
    "CompileError",
    "TypingError",
    "UnsupportedError",
    "CudaError",
    "ToolchainError",
    "LaunchError",
    "BarrierError",
    "Loc",
]


@dataclass(frozen=True)
class Loc:
    """A position in user source: file, 1-based line, 0-based column, the line text."""

    filename: str
    line: int
    col: int
    source_line: str = ""
    func: str = ""

    def format(self) -> str:
        where = f'File "{self.filename}", line {self.line}, column {self.col + 1}'
        if self.func:
            where += f", in {self.func}"
        if not self.source_line:
            return where
        text = self.source_line.rstrip("\n")
        stripped = text.lstrip()
        indent = len(text) - len(stripped)
        caret = " " * max(self.col - indent, 0) + "^"
        return f"{where}\n    {stripped}\n    {caret}"

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}:{self.col + 1}"


class JitkitError(Exception):
    """Base class of every exception jitkit raises on purpose."""


class CompileError(JitkitError):
    """A construct jitkit cannot compile, located in the user's source.

    ``str(err)`` shows the message, the location with the source line and a
    caret, and (when given) a hint at what is supported.  ``err.loc`` holds the
    :class:`Loc`; ``err.chain`` lists the call sites through device functions.
    """

    def __init__(self, message: str, loc: Loc | None = None, hint: str | None = None):
        self.message = message
        self.loc = loc
        self.hint = hint
        self.chain: list[Loc] = []
        super().__init__(message)

    def _repr_html_(self) -> str:
        from .notebook import error_html
        return error_html(self)

    def add_call_site(self, loc: Loc) -> None:
        """Record that the failing function was reached through a call at ``loc``."""
        self.chain.append(loc)

    def __str__(self) -> str:
        parts = [self.message]
        if self.loc is not None:
            parts.append(self.loc.format())
        for site in self.chain:
            parts.append("called from " + site.format())
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class TypingError(CompileError):
    """A type error in a kernel or device function (wrong operand types, arity...)."""


class UnsupportedError(CompileError):
    """Python syntax or a library call outside jitkit's kernel language."""


class ToolchainError(JitkitError):
    """libNVVM, libdevice, nvJitLink or a disassembler is missing or failed.

    ``log`` holds the tool's own log when there is one.
    """

    def __init__(self, message: str, log: str = ""):
        self.log = log
        super().__init__(message + (f"\n--- log ---\n{log.strip()}" if log.strip() else ""))


class CudaError(JitkitError):
    """A CUDA driver call failed.  Names the call, the error and the kernel involved."""

    def __init__(self, call: str, code: int, name: str, description: str = "", kernel: str | None = None):
        self.call = call
        self.code = code
        self.name = name
        self.kernel = kernel
        msg = f"{call} failed: {name} ({code})"
        if description:
            msg += f": {description}"
        if kernel:
            msg += f" [kernel {kernel}]"
        super().__init__(msg)


class LaunchError(JitkitError, ValueError):
    """A launch configuration or argument that cannot work (raised before the launch)."""


class BarrierError(JitkitError, RuntimeError):
    """``syncthreads()`` reached by only part of a block (the simulator reports what hangs a GPU)."""


class NeedsBlockShape(Exception):
    """Internal: typing met ``jk.block_dims()`` (directly or in a primitive) without a block shape.
    The dispatcher then compiles the kernel once per launch block shape."""
