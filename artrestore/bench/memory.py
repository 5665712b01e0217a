"""Peak resident memory of a code block, sampled from a background thread (covers native libraries too)."""

from __future__ import annotations

import threading
import time

import psutil


class PeakMemory:
    """Context manager measuring the peak RSS while the block runs.

    Attributes:
        baseline_mb: RSS when the block started.
        peak_mb: highest RSS seen during the block (sampled every ``interval`` seconds, plus start and end).

    Example:
        >>> with PeakMemory() as mem:
        ...     work()
        >>> mem.peak_mb, mem.extra_mb
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self._process = psutil.Process()
        self.baseline_mb = 0.0
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _rss(self) -> float:
        return self._process.memory_info().rss / 2**20

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._rss())
            time.sleep(self.interval)

    def __enter__(self) -> PeakMemory:
        self.baseline_mb = self.peak_mb = self._rss()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_mb = max(self.peak_mb, self._rss())

    @property
    def extra_mb(self) -> float:
        """Peak growth over the baseline (memory the block itself needed at its worst)."""
        return self.peak_mb - self.baseline_mb
