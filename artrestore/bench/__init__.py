"""Benchmark harness: every registered method on every damage kind, with quality, speed and memory."""

from .harness import run_bench, score_outputs
from .memory import PeakMemory
from .report import aggregate, markdown_table

__all__ = ["PeakMemory", "aggregate", "markdown_table", "run_bench", "score_outputs"]
