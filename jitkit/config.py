"""Every environment knob jitkit reads, in one place, read when used (never at import).

- ``JITKIT_CACHE``: ``0`` disables the on-disk kernel cache (default on).
- ``JITKIT_CACHE_DIR``: where the disk cache lives (default: the user cache dir).
- ``JITKIT_ARCH``: compile for this arch instead of the current device's (e.g. ``sm_90``).
- ``JITKIT_COMPILER_FRAMES``: ``1`` keeps jitkit's own frames in compile-error tracebacks.
- ``JITKIT_TARGET``: ``gpu``, ``sim`` or ``auto`` (default: the GPU if there is one, else the CPU
  simulator).  Read at the first launch; change it later with :func:`set_target`.
"""

from __future__ import annotations

import os


def cache_enabled() -> bool:
    return os.environ.get("JITKIT_CACHE", "1").strip().lower() not in ("0", "false", "no", "off", "")


def cache_dir() -> str:
    d = os.environ.get("JITKIT_CACHE_DIR")
    if d:
        return d
    try:
        import platformdirs
    except ImportError:  # a declared dependency; fall back to the XDG default if it is missing
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "jitkit")
    return platformdirs.user_cache_dir("jitkit", appauthor=False)


def arch_override() -> str | None:
    return os.environ.get("JITKIT_ARCH") or None


def keep_compiler_frames() -> bool:
    return os.environ.get("JITKIT_COMPILER_FRAMES", "0").strip() not in ("0", "")


TARGETS = ("auto", "gpu", "sim")
_target = [None]   # the process default, once read


def check_target(name: str) -> str:
    t = str(name).strip().lower() or "auto"
    if t not in TARGETS:
        raise ValueError(f"unknown target {name!r}; use one of {', '.join(TARGETS)}")
    return t


def target() -> str:
    """The process-wide default target: 'auto', 'gpu' or 'sim'."""
    t = _target[0]
    if t is None:
        t = _target[0] = check_target(os.environ.get("JITKIT_TARGET", "auto"))
    return t


def set_target(name: str) -> None:
    """Set the process-wide default target ('auto', 'gpu' or 'sim'); takes effect at the next launch.

    Example::

        jk.set_target("sim")     # run every kernel on the CPU simulator from now on
    """
    _target[0] = check_target(name)
