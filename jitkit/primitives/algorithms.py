"""The host algorithms' public names in one place (``from jitkit.primitives import algorithms``):
``reduce``, ``scan``, ``transform``, ``segmented_reduce``, ``searchsorted``, ``select``,
``partition``, ``histogram`` and the plans ``plan_reduce``, ``plan_scan``.  They live in
:mod:`jitkit.primitives.host`, one module per algorithm; sorting is :mod:`jitkit.primitives.sort`.
"""

from .host.histogram import histogram
from .host.reduce import ReducePlan, plan_reduce, reduce, segmented_reduce
from .host.scan import ScanPlan, plan_scan, scan
from .host.search import searchsorted
from .host.select import partition, select
from .host.transform import transform

__all__ = ["reduce", "scan", "transform", "plan_reduce", "plan_scan", "segmented_reduce", "searchsorted", "select",
           "partition", "histogram", "ReducePlan", "ScanPlan"]
