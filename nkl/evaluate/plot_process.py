"""The result plots of a run whose features were all cached, drawn by a second process.

Without extraction there is no idle time to warm the plot libraries in (the cold run's prewarm thread does it while
workers extract). Altair and the Vega-Lite renderer cost ~0.6 s to load and start, and they hold the GIL, so a
thread cannot hide them; a process started before the fit loads them on the core the fit's imports leave idle, and
draws the plots when the predictions are there. Purely an optimisation: if that process fails in any way, the plots
are drawn here as before (and a real error is raised by that).
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

log = logging.getLogger("nkl")


def _warm(idle: bool = False) -> None:
    """Load what a job needs and start the Vega-Lite renderer (its first image costs ~0.4 s); ``idle``: at the lowest
    CPU priority."""
    import os
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (it keeps what is done)
    if idle:
        os.nice(19)
    import altair as alt
    import vl_convert

    import nkl.evaluate.results  # noqa: F401 - what the job runs, loaded before it comes

    chart = alt.Chart(alt.Data(values=[{"x": 0, "y": 0}])).mark_point().encode(x="x:Q", y="y:Q")
    vl_convert.vegalite_to_png(chart.to_dict())


def _ready() -> bool:
    return True


class PlotProcess:
    """One spawned process, warmed up at once; ``result_plots`` draws in it (or here, when it cannot).

    ``idle = True`` while feature extraction keeps every core busy: the process then runs at the lowest CPU priority,
    so it warms up in the moments the workers leave a core free and in the fit's time, instead of taking its ~1 s of
    CPU from the workers (cold EmoDB run: 1.09x -> 1.06x raw openSMILE, median of 5). It stays low for its job, which
    comes when extraction is over and a core is free.
    """

    def __init__(self, idle: bool = False) -> None:
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_warm,
                                         initargs=(idle,))
        self._started: Future = self._pool.submit(_ready)  # the process starts now, not at the first plot

    def result_plots(self, *args: Any, **kwargs: Any) -> list[Path]:
        return self.start_plots(*args, **kwargs)()

    def start_plots(self, *args: Any, **kwargs: Any) -> Callable[[], list[Path]]:
        """Start drawing ``result_plots(*args, **kwargs)`` there; the returned function waits for the paths (and draws
        here if that process failed), so the caller can save the model meanwhile."""
        from nkl.evaluate.results import result_plots

        future = self._pool.submit(result_plots, *args, **kwargs)

        def wait() -> list[Path]:
            try:
                return future.result()
            except Exception as exc:  # noqa: BLE001 - drawn here instead; a real error (a full disk) is raised by that
                log.debug("plots not drawn by the plot process (%r); drawing them here", exc)
                return result_plots(*args, **kwargs)
            finally:
                self.close()

        return wait

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
