"""The on-disk kernel cache: compiled cubins keyed by everything that shapes them.

A key hashes the schema version, jitkit's version, the sources of every
function involved and the constants they captured, the signature, the target
arch, the compile options and the exact toolchain (library versions and
files).  Entries are written atomically (temp file + ``os.replace``) and
carry a checksum; a truncated or corrupt entry reads as a miss and is
recompiled, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile

from .. import config

SCHEMA = 1
_MAGIC = b"JITKITC1"


def make_key(*parts: str) -> str:
    h = hashlib.sha256()
    for p in (f"schema={SCHEMA}",) + parts:
        data = p.encode()
        h.update(struct.pack("<Q", len(data)))
        h.update(data)
    return h.hexdigest()


def _path(key: str) -> str:
    return os.path.join(config.cache_dir(), key[:2], key + ".jkc")


def load(key: str):
    """``(meta, blobs)`` for ``key``, or None on a miss or an unreadable entry."""
    if not config.cache_enabled():
        return None
    path = _path(key)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    try:
        if raw[:8] != _MAGIC:
            raise ValueError("bad magic")
        (hlen,) = struct.unpack_from("<I", raw, 8)
        header = json.loads(raw[12:12 + hlen])
        body = raw[12 + hlen:]
        if header["key"] != key or hashlib.sha256(body).hexdigest() != header["sha256"]:
            raise ValueError("checksum mismatch")
        blobs, pos = {}, 0
        for name, size in header["blobs"]:
            blobs[name] = body[pos:pos + size]
            pos += size
        if pos != len(body):
            raise ValueError("size mismatch")
        return header["meta"], blobs
    except (ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError):
        try:  # corrupt: drop it so the recompiled entry replaces it
            os.unlink(path)
        except OSError:
            pass
        return None


def store(key: str, meta: dict, blobs: dict) -> bool:
    """Write an entry atomically; returns False (silently) if the cache dir is unusable."""
    if not config.cache_enabled():
        return False
    path = _path(key)
    body = b"".join(blobs.values())
    header = json.dumps({"key": key, "meta": meta, "sha256": hashlib.sha256(body).hexdigest(),
                         "blobs": [[n, len(b)] for n, b in blobs.items()]}).encode()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + struct.pack("<I", len(header)) + header + body)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return False
    return True
