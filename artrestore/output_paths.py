"""Output paths of a command, checked before any work: nothing the user did not name as output is ever replaced.

An output may not be an input file, another output of the same run, or a folder; an existing file is replaced only
with ``--overwrite``. Every refusal names the path and what to do.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path


def _same(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_outputs(
    outputs: Sequence[str | os.PathLike],
    *,
    inputs: Iterable[str | os.PathLike],
    overwrite: bool,
    option: str = "out",
    suffix: str | None = ".png",
    sources: Sequence[str | os.PathLike] | None = None,
) -> list[Path]:
    """Refuse, with a ``ValueError``, any output path the run must not write.

    Args:
        outputs: every file the run will write.
        inputs: every file the run reads (never written).
        overwrite: whether existing files named as outputs may be replaced.
        option: the command-line option the outputs come from (named in the messages).
        suffix: the required file suffix (lower case), or None for any.
        sources: per output, the input it is made from (named when two outputs collide), or None.

    Returns:
        The outputs as paths.
    """
    paths = [Path(p) for p in outputs]
    inputs = [Path(p) for p in inputs]
    seen: dict[Path, int] = {}
    for i, path in enumerate(paths):
        if suffix is not None and path.suffix.lower() != suffix:
            raise ValueError(f"{option}: {path} must be a {suffix} file")
        if path.is_dir():
            raise ValueError(f"{option}: {path} is a folder; name a {suffix or ''} file inside it instead".rstrip())
        for source in inputs:
            if _same(path, source):
                raise ValueError(
                    f"{option}: {path} is an input file of this run; refusing to write over it (choose another "
                    f"{option})"
                )
        key = path.resolve()
        if key in seen:
            j = seen[key]
            made_from = f" (from {Path(sources[j]).name} and {Path(sources[i]).name})" if sources else ""
            raise ValueError(
                f"{option}: two outputs of this run would both be written to {path}{made_from}; rename one of the "
                "inputs or restore them into separate folders"
            )
        seen[key] = i
        if path.exists() and not overwrite:
            raise ValueError(
                f"{option}: {path} already exists; pass --overwrite to replace it, or choose another path"
            )
    return paths
