"""Layer 3, the build: from a Python function and a signature to a cubin, through named stages.

:mod:`.pipeline` (stages ``typed -> nvvm -> ltoir -> cubin``), :mod:`.toolchain` (libNVVM, nvJitLink,
libdevice, disassembly), :mod:`.linking` (foreign code: NVRTC, PTX, LTO-IR, libraries),
:mod:`.cache` and :mod:`.cachekey` (the disk cache and keys that cannot go stale).
"""
