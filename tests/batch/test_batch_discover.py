"""discover_inputs: a file, a folder (pattern, recursive), a glob, a list file; hidden and excluded files."""
from __future__ import annotations

from pathlib import Path

import pytest

from sigkit.batch import discover_inputs, read_list_file
from sigkit.errors import InputError


@pytest.fixture
def tree(tmp_path) -> Path:
    for name in ("a.wav", "B.FLAC", "notes.md", "sub/c.wav", "sub/deep/d.wav", ".hidden.wav",
                 "sub/.e.wav.sigkit-part-1-ab.wav", "out/old.wav"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    return tmp_path


def rels(found) -> list[str]:
    return [f.rel.as_posix() for f in found]


class TestDiscover:
    def test_single_file_ignores_pattern(self, tree):
        (found,) = discover_inputs(tree / "notes.md", "*.wav")
        assert found.path == tree / "notes.md" and found.rel == Path("notes.md")

    def test_folder_flat_and_recursive(self, tree):
        assert rels(discover_inputs(tree, "*.wav")) == ["a.wav"]
        assert rels(discover_inputs(tree, "*.wav,*.flac")) == ["B.FLAC", "a.wav"]  # case-insensitive
        assert rels(discover_inputs(tree, ["*.wav"], recursive=True)) == [
            "a.wav", "out/old.wav", "sub/c.wav", "sub/deep/d.wav"]
        assert rels(discover_inputs(tree, None)) == ["B.FLAC", "a.wav", "notes.md"]

    def test_exclude_leaves_out_the_output_folder(self, tree):
        found = discover_inputs(tree, "*.wav", recursive=True, exclude=tree / "out")
        assert rels(found) == ["a.wav", "sub/c.wav", "sub/deep/d.wav"]

    def test_recursive_glob_is_relative_to_its_plain_prefix(self, tree):
        found = discover_inputs(str(tree / "sub" / "**" / "*.wav"))
        assert rels(found) == ["c.wav", "deep/d.wav"]
        assert found[1].path == tree / "sub" / "deep" / "d.wav"

    @pytest.mark.parametrize("form", ["@", "txt", "lst"])
    def test_list_file(self, tree, form):
        name = "inputs.lst" if form == "lst" else "inputs.txt"
        listing = tree / "lists" / name
        listing.parent.mkdir()
        deep = tree / "sub" / "deep" / "d.wav"
        listing.write_text(f"# comment\n../sub/c.wav\n\n{deep}\n../sub/missing.wav\n")
        found = discover_inputs(("@" if form == "@" else "") + str(listing))
        # relative to the listed files' common folder (sub/); a missing file is kept to be reported
        assert rels(found) == ["c.wav", "deep/d.wav", "missing.wav"]
        assert found[0].path.resolve() == (tree / "sub" / "c.wav").resolve()
        assert not found[2].path.exists()

    def test_read_list_file_relative_to_its_folder(self, tmp_path):
        (tmp_path / "l.txt").write_text("x.wav\n  # not a path\n/abs/y.wav\n")
        assert read_list_file(tmp_path / "l.txt") == [tmp_path / "x.wav", Path("/abs/y.wav")]


class TestDiscoverErrors:
    def test_missing_source(self, tmp_path):
        with pytest.raises(InputError, match="no such file or folder"):
            discover_inputs(tmp_path / "nope")

    def test_nothing_matches_suggests_recursive(self, tree):
        with pytest.raises(InputError, match=r"no input files matching \*\.ogg .*--recursive"):
            discover_inputs(tree, "*.ogg")

    def test_empty_or_missing_list_file(self, tmp_path):
        (tmp_path / "empty.txt").write_text("# nothing\n")
        with pytest.raises(InputError, match="names no inputs"):
            discover_inputs(tmp_path / "empty.txt")
        with pytest.raises(InputError, match="no such list file"):
            discover_inputs("@" + str(tmp_path / "none.txt"))
