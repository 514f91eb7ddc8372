"""Warp/block primitives and host algorithms (issues #6 and #7; nothing here yet)."""
