"""Running small torch models on one thread."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one intra-op thread for the block, then restore the previous count.

    Small models (silero's 32 ms frames, Resemblyzer, pyannote's segmentation) gain nothing from splitting tiny
    operations over threads, and collapse when another process wants a core. Measured on a 2-core machine:
    silero 25-32 files/s on one thread, 4-25 (median 4.8) on two; Resemblyzer 0.07 s instead of 1 s per file on a
    busy CPU. torch's thread count is process-wide: do not run other torch work in parallel threads meanwhile.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
