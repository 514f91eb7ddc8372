"""jitkit's version: part of every cache key (see :mod:`jitkit.build.cachekey`)."""

__version__ = "0.1.0"
