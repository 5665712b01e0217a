"""Peak resident memory of a code block, sampled from a background thread (covers native libraries too)."""

from __future__ import annotations

import threading
import time

import psutil


class PeakMemory:
    """Context manager measuring the peak RSS while the block runs.

    Args:
        interval: seconds between samples.
        pid: the process to watch (None: this one).
        children: also count all of its descendant processes (e.g. an app server and its workers).

    Attributes:
        baseline_mb: RSS when the block started.
        peak_mb: highest RSS seen during the block (sampled every ``interval`` seconds, plus start and end).

    Example:
        >>> with PeakMemory() as mem:
        ...     work()
        >>> mem.peak_mb, mem.extra_mb
    """

    def __init__(self, interval: float = 0.005, *, pid: int | None = None, children: bool = False) -> None:
        self.interval = interval
        self._process = psutil.Process(pid)
        self.children = children
        self.baseline_mb = 0.0
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def rss_mb(self) -> float:
        """The RSS now (MB): of the process, plus all its descendants when ``children`` is set."""
        processes = [self._process, *self._process.children(recursive=True)] if self.children else [self._process]
        total = 0
        for p in processes:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:  # a child that ended meanwhile
                pass
        return total / 2**20

    def reset(self) -> float:
        """Start a new peak (and baseline) from the RSS now, which is returned."""
        self.baseline_mb = self.peak_mb = self.rss_mb()
        return self.baseline_mb

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self.rss_mb())
            time.sleep(self.interval)

    def __enter__(self) -> PeakMemory:
        self.reset()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_mb = max(self.peak_mb, self.rss_mb())

    @property
    def extra_mb(self) -> float:
        """Peak growth over the baseline (memory the block itself needed at its worst)."""
        return self.peak_mb - self.baseline_mb
