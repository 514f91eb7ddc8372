"""The GPU target: typed tree -> NVVM IR (see lower.py for the module, function.py for bodies, ops.py for the op rules)."""
