"""Finding a batch tool's inputs: a file, a folder, a glob, or a list file, each with the relative path
its output mirrors."""
from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from sigkit.errors import InputError

GLOB_CHARS = "*?["
LIST_SUFFIXES = (".txt", ".lst")


@dataclass(frozen=True)
class InputFile:
    """One input: the file to read and its path relative to the input root (mirrored under OUT).

    >>> InputFile(Path("data/a/x.wav"), Path("a/x.wav")).rel.as_posix()
    'a/x.wav'
    """

    path: Path
    rel: Path


def _split_patterns(pattern: str | Sequence[str] | None) -> list[str]:
    if pattern is None:
        return []
    items = pattern.split(",") if isinstance(pattern, str) else list(pattern)
    return [p.strip() for p in items if p.strip()]


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _inside(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _glob_root(pattern: str) -> Path:
    """The longest leading folder of ``pattern`` without glob characters (``data/**/*.wav`` -> ``data``)."""
    parts = Path(pattern).parts
    root: list[str] = []
    for part in parts[:-1]:
        if any(c in part for c in GLOB_CHARS):
            break
        root.append(part)
    return Path(*root) if root else Path(".")


def read_list_file(path: str | os.PathLike) -> list[Path]:
    """Paths listed in a text file, one a line; blank lines and ``#`` comments are skipped.

    Relative paths are taken relative to the list file's folder.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "l.txt").write_text("# two files\\na.wav\\n\\nsub/b.wav\\n")
    >>> [p.relative_to(d).as_posix() for p in read_list_file(d / "l.txt")]
    ['a.wav', 'sub/b.wav']
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read the list file ({err}); "
                         "give a text file with one path a line") from err
    out = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            p = Path(line).expanduser()
            out.append(p if p.is_absolute() else path.parent / p)
    return out


def discover_inputs(source: str | os.PathLike, pattern: str | Sequence[str] | None = None,
                    recursive: bool = False, exclude: str | os.PathLike | None = None) -> list[InputFile]:
    """The input files a batch tool processes, sorted, each with the relative path its output mirrors.

    ``source`` may be:

    - a file: itself (``rel`` is its name), whatever ``pattern`` says;
    - a folder: its files whose names match ``pattern`` (comma-separated globs such as
      ``"*.wav,*.flac"``, case-insensitive so ``*.wav`` finds ``A.WAV``; all files if ``None``), in
      subfolders too when ``recursive``; ``rel`` is the path below the folder;
    - a glob (``"data/**/*.wav"``, ``**`` spans folders): its matching files, ``rel`` below the glob's
      leading plain folder (``data``);
    - a list file, ``@list.txt`` or any ``.txt`` / ``.lst`` file: the paths it lists (see
      :func:`read_list_file`); ``rel`` is the path below the listed files' common folder. Listed files
      that do not exist are kept, so the run reports each of them as a failed input.

    Hidden files (a name or folder starting with ``.``, such as temporary outputs) and anything inside
    ``exclude`` (the output folder, when it lies within the input folder) are left out.

    Raises:
        InputError: ``source`` does not exist, or nothing matched.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> for name in ("a.wav", "b.flac", "sub/c.wav", "notes.md"):
    ...     (d / name).parent.mkdir(exist_ok=True); (d / name).touch()
    >>> [f.rel.as_posix() for f in discover_inputs(d, "*.wav,*.flac", recursive=True)]
    ['a.wav', 'b.flac', 'sub/c.wav']
    >>> [f.rel.as_posix() for f in discover_inputs(str(d / "**" / "*.wav"))]
    ['a.wav', 'sub/c.wav']
    """
    text = os.fspath(source)
    exclude_dir = Path(exclude) if exclude is not None else None
    if text.startswith("@") or (Path(text).suffix.lower() in LIST_SUFFIXES and Path(text).is_file()):
        list_path = Path(text[1:] if text.startswith("@") else text)
        if not list_path.is_file():
            raise InputError(f"{list_path}: no such list file; give a text file with one input path a line")
        paths = read_list_file(list_path)
        if not paths:
            raise InputError(f"{list_path}: the list file names no inputs; put one path a line")
        parents = [os.path.abspath(p.parent) for p in paths]
        root = Path(os.path.commonpath(parents))
        found = [InputFile(p, Path(os.path.relpath(os.path.abspath(p), root))) for p in paths]
        return sorted(found, key=lambda f: f.rel.as_posix())

    path = Path(text).expanduser()
    if path.is_file():
        return [InputFile(path, Path(path.name))]
    if path.is_dir():
        patterns = _split_patterns(pattern) or ["*"]
        lowered = [pat.lower() for pat in patterns]
        walker = path.rglob if recursive else path.glob
        named = (p for p in walker("*") if any(fnmatch(p.name.lower(), pat) for pat in lowered))
        hits = {p for p in named if p.is_file()}
        flat = "" if recursive else " (not recursive)"
        root, what = path, f"matching {','.join(patterns)} in {path}{flat}"
    elif any(c in text for c in GLOB_CHARS):
        hits = {Path(p) for p in glob.glob(text, recursive=True) if os.path.isfile(p)}
        root, what = _glob_root(text), f"matching {text}"
    else:
        raise InputError(f"{text}: no such file or folder; give a file, a folder, a glob or @list.txt")
    found = []
    for p in hits:
        rel = p.relative_to(root)
        if not _hidden(rel) and not _inside(p, exclude_dir):
            found.append(InputFile(p, rel))
    if not found:
        hint = "" if recursive or not path.is_dir() else "; pass --recursive to look in subfolders"
        raise InputError(f"no input files {what}{hint}; check the path and --pattern")
    return sorted(found, key=lambda f: f.rel.as_posix())
