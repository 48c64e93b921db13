"""The batch engine every ``sigkit <tool> IN OUT`` runs on.

:func:`run_batch` takes the discovered inputs and three functions from the tool — ``load`` one file,
``process`` a batch of loaded items together (on the device), ``save`` one result — and does the rest:
mirrored output paths, skipping outputs that exist (so a killed run resumes), per-file error isolation
(a bad file is reported and the rest goes on), atomic writes, ``OUT/errors.jsonl``, a tqdm bar and
the one-line summary.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from sigkit.batch.atomic import PART_MARK, atomic_write, remove_partials
from sigkit.batch.discover import InputFile
from sigkit.errors import InputError, SigkitError

T = TypeVar("T")
R = TypeVar("R")
ERRORS_NAME = "errors.jsonl"


@dataclass
class Job(Generic[T]):
    """One input on its way through a batch: where it comes from, where it goes, what was loaded."""

    source: InputFile
    output: Path
    data: T | None = None

    @property
    def path(self) -> Path:
        """The input file."""
        return self.source.path


@dataclass
class Failure:
    """One input that failed: ``stage`` is ``"plan"``, ``"load"``, ``"process"`` or ``"save"``."""

    input: str
    output: str
    stage: str
    error: str
    message: str


@dataclass
class BatchSummary:
    """What a batch run did. ``line()`` is the summary a tool prints; ``exit_code`` is 1 if any failed.

    >>> errors = Path("out/errors.jsonl")
    >>> BatchSummary(processed=998, skipped=0, failed=2, seconds=41.23, errors_path=errors).line()
    'processed 998, skipped 0 (done before), failed 2 (see out/errors.jsonl) in 41.2 s'
    """

    processed: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    errors_path: Path | None = None
    failures: list[Failure] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    interrupted: bool = False

    def line(self) -> str:
        where = f" (see {self.errors_path})" if self.failed and self.errors_path else ""
        text = (f"processed {self.processed}, skipped {self.skipped} (done before), "
                f"failed {self.failed}{where} in {self.seconds:.1f} s")
        return f"interrupted: {text}; run the same command again to resume" if self.interrupted else text

    @property
    def exit_code(self) -> int:
        return 130 if self.interrupted else (1 if self.failed else 0)


def per_item(fn: Callable[[Job[T]], R]) -> Callable[[list[Job[T]]], list[R]]:
    """Turn a one-item function into a batch ``process`` function (for tools that do not batch).

    >>> per_item(lambda job: job.data * 2)([Job(None, Path("o"), 1), Job(None, Path("p"), 5)])
    [2, 10]
    """
    def process(jobs: list[Job[T]]) -> list[R]:
        return [fn(job) for job in jobs]

    return process


def _reason(err: BaseException) -> str:
    return str(err) if isinstance(err, SigkitError) else f"{type(err).__name__}: {err}"


def check_writable(folder: Path, what: str) -> None:
    """Create ``folder`` if needed and prove it writable, or raise ``InputError`` naming ``what``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe{PART_MARK}{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise InputError(f"{what}: the output folder cannot be written ({err.strerror or err}); "
                         "choose another OUT or fix its permissions") from err


def output_path(source: InputFile, out_root: Path, out_suffix: str | None) -> Path:
    """Where ``source``'s output goes: its relative path under ``out_root``, with ``out_suffix`` if given.

    >>> output_path(InputFile(Path("in/a/x.wav"), Path("a/x.wav")), Path("out"), ".png").as_posix()
    'out/a/x.png'
    """
    rel = source.rel.with_suffix(out_suffix) if out_suffix else source.rel
    return out_root / rel


def _single_output(inputs: Sequence[InputFile], out: Path, out_suffix: str | None) -> bool:
    """``sigkit tool a.wav b.wav``: one input and an OUT that names a file of the output's type."""
    if len(inputs) != 1 or out.is_dir():
        return False
    expected = (out_suffix or inputs[0].path.suffix).lower()
    return bool(expected) and out.suffix.lower() == expected


def _load_all(jobs: Iterable[Job], load: Callable[[Path], Any], workers: int,
              ahead: int) -> Iterator[tuple[Job, BaseException | None]]:
    """Load each job's data in order (``workers`` threads reading up to ``ahead`` files in advance)."""
    def one(job: Job) -> BaseException | None:
        try:
            job.data = load(job.path)
            return None
        except Exception as err:  # noqa: BLE001 - any failure of one file is that file's failure
            return err

    if workers <= 0:
        for job in jobs:
            yield job, one(job)
        return
    it = iter(jobs)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = deque()
        for job in it:
            pending.append((job, pool.submit(one, job)))
            if len(pending) >= ahead:
                break
        while pending:
            job, fut = pending.popleft()
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(one, nxt)))
            yield job, fut.result()


def _batches(loaded: Iterator[tuple[Job, BaseException | None]], size: int,
             on_fail: Callable[[Job, str, BaseException], None]) -> Iterator[list[Job]]:
    batch: list[Job] = []
    for job, err in loaded:
        if err is not None:
            on_fail(job, "load", err)
            continue
        batch.append(job)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_batch(
    inputs: Sequence[InputFile],
    out: str | os.PathLike,
    *,
    load: Callable[[Path], T],
    process: Callable[[list[Job[T]]], Sequence[R]],
    save: Callable[[R, Path], None],
    out_suffix: str | None = None,
    batch_size: int = 1,
    overwrite: bool = False,
    workers: int = 0,
    desc: str = "sigkit",
    progress: bool = True,
    print_summary: bool = True,
) -> BatchSummary:
    """Run a tool over ``inputs``, writing one output per input under ``out``.

    Args:
        inputs: from :func:`~sigkit.batch.discover_inputs`.
        out: the output folder (created if missing); its tree mirrors the inputs' relative paths. With
            a single input and an ``out`` ending in the output's extension, ``out`` is the output file.
        load: reads one input file (errors here fail that file only).
        process: turns a batch of loaded :class:`Job`\\ s (``job.data``) into one result each, in
            order; run together on the device. If a batch raises, its jobs are retried one by one so
            that only the bad file fails.
        save: writes one result to the path it is given — a temporary name with the output's
            extension, moved into place only when ``save`` returns (see :func:`atomic_write`).
        out_suffix: the outputs' extension (``".png"``); ``None`` keeps the input's.
        batch_size: jobs per ``process`` call.
        overwrite: redo inputs whose output exists (by default they are skipped: done before).
        workers: threads loading files ahead of processing (0 loads in the main thread).
        desc: the progress bar's label.
        progress: show the tqdm bar (on stderr).
        print_summary: print :meth:`BatchSummary.line` to stdout at the end.

    Returns:
        :class:`BatchSummary`. Failed inputs are listed, one JSON object a line (input, output, stage,
        error, message), in ``OUT/errors.jsonl``, which is removed when a run has no failures.

    Raises:
        InputError: ``out`` cannot be created or written (before any input is touched).
        KeyboardInterrupt: passed on after the partial summary and ``errors.jsonl`` are written;
            no half-written output is left, and a rerun resumes.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> for name in ("a.txt", "b.txt"):
    ...     _ = (d / "in" / name).parent.mkdir(exist_ok=True), (d / "in" / name).write_text(name)
    >>> from sigkit.batch import discover_inputs
    >>> run = lambda: run_batch(discover_inputs(d / "in"), d / "out", load=Path.read_text,
    ...     process=per_item(lambda job: job.data.upper()), save=lambda text, p: p.write_text(text),
    ...     progress=False, print_summary=False)
    >>> run().line()[:44], (d / "out" / "b.txt").read_text()
    ('processed 2, skipped 0 (done before), failed', 'B.TXT')
    >>> run().skipped
    2
    """
    start = time.perf_counter()
    out = Path(out)
    if batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}")
    single = _single_output(inputs, out, out_suffix)
    report_dir = out.parent if single else out
    check_writable(report_dir, str(out))
    if not single:
        remove_partials(out)
    summary = BatchSummary(errors_path=report_dir / ERRORS_NAME)

    def fail(job: Job, stage: str, err: BaseException) -> None:
        reason = _reason(err)
        job.data = None
        summary.failures.append(Failure(str(job.path), str(job.output), stage, type(err).__name__, reason))
        summary.failed += 1
        shown = reason if str(job.path) in reason else f"{job.path}: {reason}"
        bar.write(f"failed: {shown}", file=sys.stderr)
        bar.update(1)

    todo: list[Job] = []
    seen: dict[Path, Path] = {}
    planned: list[tuple[Job, str | None]] = []
    for source in inputs:
        target = out if single else output_path(source, out, out_suffix)
        job, problem = Job(source, target), None
        key = Path(os.path.abspath(target))
        if key in seen:
            problem = f"its output {target} is also the output of {seen[key]}; rename one of them"
        elif key == Path(os.path.abspath(source.path)):
            problem = ("its output would overwrite the input itself; "
                       f"choose an OUT outside {source.path.parent}")
        seen.setdefault(key, source.path)
        planned.append((job, problem))

    from tqdm.auto import tqdm

    bar = tqdm(total=len(planned), desc=desc, unit="file", disable=not progress, file=sys.stderr)
    try:
        for job, problem in planned:
            if problem:
                fail(job, "plan", InputError(f"{job.path}: {problem}"))
            elif job.output.exists() and not overwrite:
                summary.skipped += 1
                bar.update(1)
            else:
                todo.append(job)

        def save_one(job: Job, result: Any) -> None:
            try:
                with atomic_write(job.output) as tmp:
                    save(result, tmp)
            except Exception as err:  # noqa: BLE001
                fail(job, "save", err)
                return
            summary.processed += 1
            summary.outputs.append(job.output)
            bar.update(1)

        def run_jobs(jobs: list[Job]) -> None:
            try:
                results = list(process(jobs))
                if len(results) != len(jobs):
                    raise RuntimeError(f"process returned {len(results)} results for {len(jobs)} inputs")
            except Exception as err:  # noqa: BLE001
                if len(jobs) > 1:  # find the bad one(s): retry each alone
                    for job in jobs:
                        run_jobs([job])
                else:
                    fail(jobs[0], "process", err)
                return
            for job, result in zip(jobs, results, strict=True):
                job.data = None  # free the input before the next batch loads
                save_one(job, result)

        loaded = _load_all(todo, load, workers, ahead=max(2 * workers, 2 * batch_size))
        for batch in _batches(loaded, batch_size, fail):
            run_jobs(batch)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        bar.close()
        summary.seconds = time.perf_counter() - start
        _write_errors(summary)
        if print_summary:
            print(summary.line(), flush=True)
    return summary


def _write_errors(summary: BatchSummary) -> None:
    path = summary.errors_path
    if path is None:
        return
    if not summary.failures:
        if path.exists() and not summary.interrupted:
            path.unlink()  # failures of an earlier run: their inputs were retried (or are done now)
        return
    with atomic_write(path) as tmp:
        tmp.write_text("".join(json.dumps(asdict(f)) + "\n" for f in summary.failures))
