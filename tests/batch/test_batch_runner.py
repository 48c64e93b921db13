"""run_batch: bad inputs reported while the rest goes on, kill/interrupt and resume, unwritable OUT,
batching, mirroring, atomic writes."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sigkit.batch import (
    BatchSummary,
    Job,
    atomic_write,
    discover_inputs,
    partial_path,
    per_item,
    remove_partials,
    run_batch,
)
from sigkit.batch.atomic import PART_MARK
from sigkit.errors import InputError

SUMMARY = re.compile(r"^processed (\d+), skipped (\d+) \(done before\), "
                     r"failed (\d+)( \(see (.+)\))? in \d+\.\d s$")


def make_inputs(root: Path, names: list[str]) -> Path:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"content of {name}")
    return root


def load_text(path: Path) -> str:
    text = path.read_text()
    if text.startswith("content of") and "bad" in path.name:
        raise ValueError("corrupt header")
    return text


def save_text(text: str, path: Path) -> None:
    path.write_text(text)


UPPER = per_item(lambda job: job.data.upper())
LENGTH = per_item(lambda job: len(job.data))


def visible_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and not p.name.startswith("."))


def run(inp: Path, out: Path, process=None, **kw) -> BatchSummary:
    kw.setdefault("progress", False)
    return run_batch(discover_inputs(inp, "*.dat", recursive=True), out, load=load_text,
                     process=process or UPPER, save=save_text, **kw)


class TestBadInputs:
    def test_bad_file_in_the_middle_is_reported_and_the_rest_goes_on(self, tmp_path, capsys):
        inp = make_inputs(tmp_path / "in", ["a.dat", "b.dat", "c_bad.dat", "d.dat", "e.dat"])
        out = tmp_path / "out"
        summary = run(inp, out, batch_size=2)
        assert (summary.processed, summary.skipped, summary.failed, summary.exit_code) == (4, 0, 1, 1)
        assert visible_files(out) == ["a.dat", "b.dat", "d.dat", "e.dat", "errors.jsonl"]
        assert (out / "d.dat").read_text() == "CONTENT OF D.DAT"
        (err,) = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
        assert err == {"input": str(inp / "c_bad.dat"), "output": str(out / "c_bad.dat"), "stage": "load",
                       "error": "ValueError", "message": "ValueError: corrupt header"}
        line = capsys.readouterr().out.strip().splitlines()[-1]
        m = SUMMARY.match(line)
        assert m and m.groups()[:3] == ("4", "0", "1") and m.group(5) == str(out / "errors.jsonl"), line

    def test_a_failing_batch_is_retried_item_by_item(self, tmp_path):
        inp = make_inputs(tmp_path / "in", [f"{i}.dat" for i in range(6)])
        calls: list[int] = []

        def process(jobs: list[Job]) -> list[str]:
            calls.append(len(jobs))
            if any(j.path.name == "4.dat" for j in jobs):
                raise RuntimeError("NaN in output")
            return [j.data[::-1] for j in jobs]

        summary = run(inp, tmp_path / "out", process=process, batch_size=3, print_summary=False)
        assert calls == [3, 3, 1, 1, 1]  # the second batch failed, then each of its items alone
        assert (summary.processed, summary.failed) == (5, 1)
        assert summary.failures[0].stage == "process" and "NaN in output" in summary.failures[0].message
        assert (tmp_path / "out" / "5.dat").read_text() == "tad.5 fo tnetnoc"

    def test_failing_save_leaves_no_output(self, tmp_path):
        inp = make_inputs(tmp_path / "in", ["a.dat", "b.dat"])

        def save(text: str, path: Path) -> None:
            path.write_text(text[:3])  # half written, then the writer dies
            if "B.DAT" in text:
                raise OSError("disk full")

        summary = run_batch(discover_inputs(inp), tmp_path / "out", load=load_text,
                            process=UPPER, save=save, progress=False)
        assert (summary.processed, summary.failed) == (1, 1)
        assert summary.failures[0].stage == "save"
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.dat", "errors.jsonl"]

    def test_two_inputs_one_output_and_output_onto_input(self, tmp_path):
        inp = make_inputs(tmp_path / "in", ["a.dat", "a.md"])
        summary = run_batch(discover_inputs(inp), tmp_path / "out", load=load_text, process=LENGTH,
                            save=lambda n, p: p.write_text(str(n)), out_suffix=".len", progress=False,
                            print_summary=False)
        assert (summary.processed, summary.failed) == (1, 1)
        assert "is also the output of" in summary.failures[0].message
        summary = run_batch(discover_inputs(inp / "a.dat"), inp / "a.dat", load=load_text, process=LENGTH,
                            save=lambda n, p: p.write_text(str(n)), progress=False, print_summary=False)
        assert summary.failed == 1 and "overwrite the input" in summary.failures[0].message
        assert (inp / "a.dat").read_text() == "content of a.dat"

    def test_errors_file_is_removed_once_a_rerun_succeeds(self, tmp_path):
        inp = make_inputs(tmp_path / "in", ["a.dat", "b_bad.dat"])
        out = tmp_path / "out"
        assert run(inp, out).failed == 1 and (out / "errors.jsonl").exists()
        (inp / "b_bad.dat").write_text("fixed now")
        summary = run(inp, out)
        assert (summary.processed, summary.skipped, summary.failed) == (1, 1, 0)
        assert not (out / "errors.jsonl").exists()
        assert (out / "b_bad.dat").read_text() == "FIXED NOW"


class TestResume:
    def test_interrupted_run_resumes_without_loss_or_half_files(self, tmp_path, capsys):
        names = [f"{i:02d}.dat" for i in range(8)]
        inp = make_inputs(tmp_path / "in", names)
        out = tmp_path / "out"

        def save_then_interrupt(text: str, path: Path) -> None:
            path.write_text(text[: len(text) // 2])  # half of the 6th output is on disk ...
            if "05" in text:
                raise KeyboardInterrupt  # ... when Ctrl-C arrives
            path.write_text(text)

        with pytest.raises(KeyboardInterrupt):
            run_batch(discover_inputs(inp), out, load=load_text, process=UPPER,
                      save=save_then_interrupt, batch_size=3, progress=False)
        assert visible_files(out) == names[:5]
        assert not any(PART_MARK in p.name for p in out.iterdir())
        assert capsys.readouterr().out.strip().startswith("interrupted: processed 5, skipped 0")

        summary = run(inp, out, process=UPPER, batch_size=3)
        assert (summary.processed, summary.skipped, summary.failed) == (3, 5, 0)
        assert visible_files(out) == names
        assert all((out / n).read_text() == f"CONTENT OF {n.upper()}" for n in names)

    def test_sigkill_mid_write_then_rerun(self, tmp_path):
        """A process killed (SIGKILL) while writing its 4th output; the rerun finishes the rest."""
        inp = make_inputs(tmp_path / "in", [f"{i}.dat" for i in range(6)])
        out = tmp_path / "out"
        script = tmp_path / "job.py"
        script.write_text(textwrap.dedent(f"""
            import os, signal, sys
            from pathlib import Path
            from sigkit.batch import discover_inputs, per_item, run_batch

            def save(text, path):
                path.write_text(text[:5])
                if sys.argv[1] == "kill" and text.startswith("3"):
                    os.kill(os.getpid(), signal.SIGKILL)  # dies with a half-written temporary file
                path.write_text(text)

            summary = run_batch(discover_inputs({str(inp)!r}), Path({str(out)!r}), load=Path.read_text,
                                process=per_item(lambda job: job.path.stem + ":" + job.data),
                                save=save, progress=False)
            sys.exit(summary.exit_code)
        """))

        def job(mode: str) -> subprocess.CompletedProcess:
            cmd = [sys.executable, str(script), mode]
            return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

        killed = job("kill")
        assert killed.returncode == -9, killed.stderr
        assert visible_files(out) == ["0.dat", "1.dat", "2.dat"]
        assert [p.name for p in out.iterdir() if PART_MARK in p.name]  # the killed write's leftover

        rerun = job("resume")
        assert rerun.returncode == 0, rerun.stderr
        assert SUMMARY.match(rerun.stdout.strip()).groups()[:3] == ("3", "3", "0")
        assert sorted(p.name for p in out.iterdir()) == [f"{i}.dat" for i in range(6)]  # no leftovers
        assert all((out / f"{i}.dat").read_text() == f"{i}:content of {i}.dat" for i in range(6))

    def test_overwrite_redoes_finished_outputs(self, tmp_path):
        inp = make_inputs(tmp_path / "in", ["a.dat"])
        run(inp, tmp_path / "out")
        assert run(inp, tmp_path / "out").skipped == 1
        assert run(inp, tmp_path / "out", overwrite=True).processed == 1


class TestOutputs:
    def test_unwritable_output_folder_fails_before_any_work(self, tmp_path):
        inp = make_inputs(tmp_path / "in", ["a.dat"])
        blocker = tmp_path / "file"
        blocker.write_text("a regular file, not a folder")
        loaded: list[Path] = []
        with pytest.raises(InputError, match=r"file/out: the output folder cannot be written"):
            run_batch(discover_inputs(inp), blocker / "out", load=loaded.append, process=UPPER,
                      save=save_text, progress=False)
        assert loaded == []

    def test_recursive_tree_is_mirrored_with_the_output_suffix(self, tmp_path):
        inp = make_inputs(tmp_path / "in", ["x.dat", "a/y.dat", "a/b/z.dat"])
        summary = run_batch(discover_inputs(inp, "*.dat", recursive=True), tmp_path / "out", load=load_text,
                            process=LENGTH, save=lambda n, p: p.write_text(str(n)), out_suffix=".n",
                            progress=False, print_summary=False)
        assert visible_files(tmp_path / "out") == ["a/b/z.n", "a/y.n", "x.n"]
        assert (tmp_path / "out" / "a" / "b" / "z.n").read_text() == str(len("content of a/b/z.dat"))
        assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in summary.outputs) == visible_files(
            tmp_path / "out")

    def test_single_input_to_a_named_output_file(self, tmp_path):
        inp = make_inputs(tmp_path / "in", ["a.dat"])
        summary = run_batch(discover_inputs(inp / "a.dat"), tmp_path / "result.DAT", load=load_text,
                            process=UPPER, save=save_text, progress=False, print_summary=False)
        assert summary.processed == 1 and (tmp_path / "result.DAT").read_text() == "CONTENT OF A.DAT"

    @pytest.mark.parametrize("workers", [0, 3])
    def test_workers_load_ahead_in_order(self, tmp_path, workers):
        names = [f"{i}.dat" for i in range(7)]
        inp = make_inputs(tmp_path / "in", names)
        order: list[str] = []

        def process(jobs: list[Job]) -> list[str]:
            order.extend(j.path.name for j in jobs)
            return [j.data for j in jobs]

        summary = run(inp, tmp_path / "out", process=process, workers=workers, batch_size=2,
                      print_summary=False)
        assert summary.processed == 7 and order == sorted(names)


class TestAtomicWrite:
    def test_success_replaces_and_error_leaves_nothing(self, tmp_path):
        target = tmp_path / "x.bin"
        target.write_bytes(b"old")
        with pytest.raises(ValueError):
            with atomic_write(target) as tmp:
                assert tmp.parent == tmp_path and tmp.suffix == ".bin" and tmp.name.startswith(".")
                tmp.write_bytes(b"half")
                raise ValueError("writer failed")
        assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["x.bin"]
        with atomic_write(target) as tmp:
            tmp.write_bytes(b"new")
        assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["x.bin"]

    def test_writer_that_writes_nothing_is_an_error(self, tmp_path):
        with pytest.raises(RuntimeError, match="without writing"):
            with atomic_write(tmp_path / "y.dat"):
                pass
        assert os.listdir(tmp_path) == []

    def test_remove_partials_only_touches_temporaries(self, tmp_path):
        (tmp_path / "sub").mkdir()
        keep = [tmp_path / "a.wav", tmp_path / ".config", tmp_path / "sub" / "b.wav"]
        for p in keep + [partial_path(tmp_path / "sub" / "c.wav"), partial_path(tmp_path / "d.png")]:
            p.write_text("x")
        assert remove_partials(tmp_path) == 2
        assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == sorted(keep)
