import os
import secrets
import tempfile

import numpy as np
import pytest

# every test session gets its own disk cache, so results never depend on earlier runs
os.environ.setdefault("JITKIT_CACHE_DIR", tempfile.mkdtemp(prefix="jitkit-test-cache-"))

import jitkit as jk  # noqa: E402

HAVE_GPU = jk.gpu_available()
gpu = pytest.mark.skipif(not HAVE_GPU, reason="needs a CUDA GPU")


@pytest.fixture
def target(request):
    """Indirectly parametrized with "sim" or "gpu": jitkit's target for the test, "auto" after it."""
    jk.set_target(request.param)
    yield request.param
    jk.set_target("auto")


@pytest.fixture
def rng(request):
    """A fresh generator per test; the seed is printed on failure for reproduction."""
    seed = secrets.randbits(32)
    request.node.user_properties.append(("seed", seed))
    print(f"rng seed = {seed}")
    return np.random.default_rng(seed)


def optional_module(name):
    try:
        return __import__(name)
    except Exception:  # noqa: BLE001 - missing or broken installs both mean "skip"
        return None
