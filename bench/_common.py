"""Helpers shared by the benchmarks: timing, table printing, results file."""

from __future__ import annotations

import datetime
import os
import statistics
import subprocess
import sys
import time

RESULTS = os.path.join(os.path.dirname(__file__), "RESULTS.md")


def interleaved_us(fns: dict, n=5000, rounds=9, sync=None) -> dict:
    """Median us/call per function, measured in interleaved rounds so machine drift hits all alike."""
    for fn in fns.values():
        for _ in range(200):
            fn()
    if sync:
        sync()
    samples = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            if sync:
                sync()
            samples[k].append((time.perf_counter() - t0) / n * 1e6)
    return {k: (statistics.median(v), min(v), max(v)) for k, v in samples.items()}


def cuda_event_ms(fn, reps=30) -> float:
    """Median milliseconds of ``fn()`` between two CUDA events (CuPy's), after 3 warm-up calls; the
    host time of a call counts where the GPU waits for it."""
    import cupy
    for _ in range(3):
        fn()
    cupy.cuda.runtime.deviceSynchronize()
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    times = []
    for _ in range(reps):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop))
    return statistics.median(times)


def run_python(code: str, env=None, runs=5) -> list:
    """Run ``code`` in fresh interpreters; each prints one float (seconds)."""
    import tempfile
    out = []
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:  # jitkit reads kernel source
        f.write(code)
    for _ in range(runs):
        res = subprocess.run([sys.executable, f.name], capture_output=True, text=True,
                             env={**os.environ, **(env or {})}, timeout=300)
        if res.returncode != 0:
            raise RuntimeError(res.stderr[-2000:])
        out.append(float(res.stdout.strip().splitlines()[-1]))
    return out


def device_name() -> str:
    try:
        import jitkit as jk
        from jitkit.runtime import driver
        if jk.gpu_available():
            d = driver.current_device()
            return f"{d.name} ({d.arch})"
    except Exception:  # noqa: BLE001
        pass
    return "no GPU"


def table(title: str, rows: list, header: tuple) -> str:
    lines = [f"### {title} — {datetime.date.today().isoformat()}, {device_name()}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    out = os.environ.get("OUT")
    if out:
        with open(os.path.join(out, "bench_tables.md"), "a") as f:
            f.write(text + "\n")
    return text
