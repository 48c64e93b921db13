"""The arguments every ``sigkit <tool> IN OUT`` shares, and the glue from them to :func:`run_batch`."""
from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sigkit.batch.discover import discover_inputs
from sigkit.batch.runner import Job, run_batch
from sigkit.errors import InputError

if TYPE_CHECKING:
    import torch

AUDIO_PATTERN = "*.wav,*.flac,*.ogg"


def default_device() -> str:
    """``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(name: str | None) -> torch.device:
    """The ``--device`` a tool runs on: ``None`` picks :func:`default_device`; a GPU that is not
    there is an error before any file is read.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    import torch

    try:
        device = torch.device(name or default_device())
    except (RuntimeError, ValueError) as err:
        raise InputError(f"--device {name!r} is not a device; use cpu, cuda or cuda:N") from err
    if device.type == "cuda" and (not torch.cuda.is_available()
                                  or (device.index or 0) >= torch.cuda.device_count()):
        raise InputError(f"--device {name}: no such CUDA device here "
                         f"({torch.cuda.device_count()} visible); use --device cpu")
    return device


def add_batch_arguments(parser: argparse.ArgumentParser, pattern: str = AUDIO_PATTERN,
                        batch_size: int = 1) -> argparse.ArgumentParser:
    """Add ``IN OUT --pattern --recursive --batch-size --device --overwrite --workers --quiet``.

    Args:
        parser: the tool's parser.
        pattern: the default ``--pattern`` (comma-separated globs).
        batch_size: the default ``--batch-size``.

    >>> p = add_batch_arguments(argparse.ArgumentParser(prog="sigkit demo"))
    >>> a = p.parse_args(["in", "out", "-r", "--batch-size", "4"])
    >>> a.input, a.output, a.recursive, a.batch_size, a.pattern
    ('in', 'out', True, 4, '*.wav,*.flac,*.ogg')
    """
    parser.add_argument("input", metavar="IN",
                        help="a file, a folder, a glob ('data/**/*.wav') or a list file "
                             "(@list.txt, one path a line)")
    parser.add_argument("output", metavar="OUT",
                        help="output folder (mirrors IN's tree); with one input file, "
                             "may name the output file")
    parser.add_argument("--pattern", default=pattern,
                        help=f"comma-separated globs for the files of a folder IN (default: {pattern})")
    parser.add_argument("-r", "--recursive", action="store_true", help="also look in IN's subfolders")
    parser.add_argument("--batch-size", type=int, default=batch_size,
                        help=f"files processed together on the device (default: {batch_size})")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo files whose output exists (default: skip them, so a rerun resumes)")
    parser.add_argument("--workers", type=int, default=0,
                        help="threads reading files ahead of processing (default: 0)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def run_from_args(args: argparse.Namespace, *, load: Callable[[Path], Any],
                  process: Callable[[list[Job]], Sequence[Any]], save: Callable[[Any, Path], None],
                  out_suffix: str | None = None, desc: str = "sigkit") -> int:
    """Discover ``args.input``, run the batch into ``args.output``, print the summary; the exit code.

    Returns 0 when every input succeeded (or was done before), 1 when any failed, 130 when interrupted.

    Raises:
        InputError: IN matches nothing, OUT is not writable, OUT is IN, or a bad ``--batch-size``.
    """
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.workers < 0:
        raise InputError(f"--workers must be 0 or more, got {args.workers}")
    out = Path(args.output)
    if os.path.isdir(args.input) and Path(args.input).resolve() == out.resolve():
        raise InputError(f"{args.output}: OUT is the input folder itself; choose another output folder")
    inputs = discover_inputs(args.input, args.pattern, args.recursive, exclude=out)
    try:
        summary = run_batch(inputs, out, load=load, process=process, save=save, out_suffix=out_suffix,
                            batch_size=args.batch_size, overwrite=args.overwrite, workers=args.workers,
                            desc=desc, progress=not args.quiet)
    except KeyboardInterrupt:
        return 130
    return summary.exit_code
