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
        from .display import error_html
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
        self.sticky = name in STICKY_ERRORS
        if self.sticky:
            msg += ("; this error is sticky: CUDA has given up on this process's context, so every later GPU call "
                    "fails too (restart the process; run the kernel on the simulator, jk.set_target('sim'), to "
                    "find the bad access)")
        elif name == "CUDA_ERROR_OUT_OF_MEMORY":
            msg += "; free device arrays (or CuPy's/PyTorch's memory pools) and try again: the process is still usable"
        super().__init__(msg)


# errors after which the CUDA context cannot be used again (the CUDA programming guide's "sticky" errors)
STICKY_ERRORS = frozenset({"CUDA_ERROR_ILLEGAL_ADDRESS", "CUDA_ERROR_LAUNCH_FAILED", "CUDA_ERROR_MISALIGNED_ADDRESS",
                           "CUDA_ERROR_ILLEGAL_INSTRUCTION", "CUDA_ERROR_HARDWARE_STACK_ERROR", "CUDA_ERROR_ASSERT",
                           "CUDA_ERROR_INVALID_ADDRESS_SPACE", "CUDA_ERROR_INVALID_PC", "CUDA_ERROR_LAUNCH_TIMEOUT",
                           "CUDA_ERROR_ECC_UNCORRECTABLE", "CUDA_ERROR_CONTEXT_IS_DESTROYED"})


class LaunchError(JitkitError, ValueError):
    """A launch configuration or argument that cannot work (raised before the launch)."""


class BarrierError(JitkitError, RuntimeError):
    """``syncthreads()`` reached by only part of a block (the simulator reports what hangs a GPU)."""


class NeedsBlockShape(Exception):
    """Internal: typing met ``jk.block_dims()`` (directly or in a primitive) without a block shape.
    The dispatcher then compiles the kernel once per launch block shape."""
