"""Sorting from the host in one place (``from jitkit.primitives import sort``): ``sort``,
``argsort``, ``unique`` and the plans ``plan_sort``, ``plan_argsort``.  They live in
:mod:`jitkit.primitives.host` (:mod:`~jitkit.primitives.host.sort`, ``.radix``, ``.merge``,
``.unique``).
"""

from .host.sort import ArgsortPlan, SortPlan, argsort, plan_argsort, plan_sort, sort
from .host.unique import unique

__all__ = ["sort", "argsort", "unique", "plan_sort", "plan_argsort", "SortPlan", "ArgsortPlan"]
