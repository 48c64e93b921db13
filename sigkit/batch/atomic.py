"""Atomic outputs: write under a temporary name in the same folder, then ``os.replace``.

A reader (or a resumed run) therefore sees either no output or a complete one, never half a file.
Temporary names are hidden (a leading dot) and carry :data:`PART_MARK`, so input discovery skips
them and :func:`remove_partials` can clear what a killed run left behind.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sigkit.errors import InputError

PART_MARK = ".sigkit-part-"


def partial_path(path: str | os.PathLike) -> Path:
    """A fresh temporary name beside ``path`` that keeps its extension (writers pick formats by it).

    >>> p = partial_path("out/a.wav")
    >>> p.parent.as_posix(), p.name.startswith(".a.wav.sigkit-part-"), p.suffix
    ('out', True, '.wav')
    """
    path = Path(path)
    return path.parent / f".{path.name}{PART_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}"


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on any error it is removed.

    The parent folder is created if missing. Nothing appears at ``path`` unless the block finishes,
    including when it is interrupted (``KeyboardInterrupt``) or the writer raises.

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "sub" / "x.txt"
    >>> with atomic_write(out) as tmp:
    ...     _ = tmp.write_text("done")
    >>> out.read_text(), sorted(p.name for p in out.parent.iterdir())
    ('done', ['x.txt'])
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{path.parent}: cannot create the output folder ({err}); "
                         "choose a writable OUT") from err
    tmp = partial_path(path)
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"{path}: the writer returned without writing its output")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_partials(root: str | os.PathLike) -> int:
    """Delete temporary outputs (names holding :data:`PART_MARK`) below ``root``; returns how many.

    Run at the start of a batch so that a run killed mid-write leaves nothing behind once resumed.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); partial_path(d / "a.wav").touch(); (d / "b.wav").touch()
    >>> remove_partials(d), sorted(p.name for p in d.iterdir())
    (1, ['b.wav'])
    """
    removed = 0
    for folder, _, files in os.walk(root):
        for name in files:
            if name.startswith(".") and PART_MARK in name:
                try:
                    os.unlink(os.path.join(folder, name))
                    removed += 1
                except FileNotFoundError:
                    pass
    return removed
