"""Every environment knob jitkit reads, in one place, read when used (never at import).

- ``JITKIT_CACHE``: ``0`` disables the on-disk kernel cache (default on).
- ``JITKIT_CACHE_DIR``: where the disk cache lives (default: the user cache dir).
- ``JITKIT_ARCH``: compile for this arch instead of the current device's (e.g. ``sm_90``).
"""

from __future__ import annotations

import os


def cache_enabled() -> bool:
    return os.environ.get("JITKIT_CACHE", "1").strip().lower() not in ("0", "false", "no", "off", "")


def cache_dir() -> str:
    d = os.environ.get("JITKIT_CACHE_DIR")
    if d:
        return d
    import platformdirs
    return platformdirs.user_cache_dir("jitkit", appauthor=False)


def arch_override() -> str | None:
    return os.environ.get("JITKIT_ARCH") or None
