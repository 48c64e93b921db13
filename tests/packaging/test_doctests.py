"""Runs the ``>>>`` examples of every public sigkit module, imported by its installed name."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

ROOTS = ("sigkit", "sigkit.audio", "sigkit.vision", "sigkit.ultrasound", "sigkit.events", "sigkit.kernels")


def _walk():
    for root in ROOTS:
        package = importlib.import_module(root)
        yield from pkgutil.walk_packages(package.__path__, root + ".")


def _modules() -> list[str]:
    names = []
    for info in _walk():
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("_") and leaf != "__init__" or leaf in ("__main__", "demo"):
            continue
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, globs=vars(module).copy()):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
