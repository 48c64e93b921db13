"""Helpers shared by the event-file readers and writers."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from sigkit.errors import MediaFileError


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary name beside ``path``; on success it replaces ``path`` (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_bytes(path: str | os.PathLike) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise MediaFileError(f"{path}: no such event file") from None
    except OSError as err:
        raise MediaFileError(f"{path}: cannot read ({err})") from None


def corrupt(path, what: str) -> MediaFileError:
    return MediaFileError(f"{path}: {what}; the file is corrupt or truncated (re-export or re-copy it)")
