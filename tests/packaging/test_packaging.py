"""The wheel installs every domain folder under ``sigkit.*`` (never bare), and the console script works."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAINS = {"sigkit": "sigkit", "audio": "sigkit.audio", "vision": "sigkit.vision",
           "ultrasound": "sigkit.ultrasound", "events": "sigkit.events", "kernels": "sigkit.kernels"}


def _source_packages() -> set[str]:
    names = set()
    for folder, dotted in DOMAINS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            names.add(".".join([dotted, *rel.parts]) if rel.parts else dotted)
    return names


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the tracked files: an in-tree build shares build/ and *.egg-info with
    the checkout, where other test workers write caches meanwhile (a CI run failed that way)."""
    import shutil

    out, src = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("src")
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True).stdout
    for rel in filter(None, tracked.decode().split("\0")):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           str(src), "-w", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"pip wheel failed:\n{done.stdout}\n{done.stderr}"
    (whl,) = out.glob("sigkit-*.whl")
    return whl


@pytest.mark.xdist_group("packaging")
class TestWheel:
    def test_every_subpackage_is_in_the_wheel(self, wheel):
        names = zipfile.ZipFile(wheel).namelist()
        packages = {n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.endswith("/__init__.py")}
        missing = _source_packages() - packages
        assert not missing, f"packages missing from the wheel: {sorted(missing)}"
        bare = {n.split("/")[0] for n in names} & {"audio", "vision", "ultrasound", "events", "kernels"}
        assert not bare, f"domain folders installed as bare top-level names: {bare}"

    def test_console_script_and_package_data(self, wheel):
        zf = zipfile.ZipFile(wheel)
        entry = next(n for n in zf.namelist() if n.endswith("entry_points.txt"))
        assert "sigkit = sigkit.cli:main" in zf.read(entry).decode()
        names = set(zf.namelist())
        # the CUDA C source that the NVRTC kernels compile at run time lives in a data folder, not a package
        assert "sigkit/kernels/cuda/stft.cuh" in names, sorted(n for n in names if n.startswith("sigkit/kernels"))

    def test_wheel_install_imports(self, wheel, tmp_path):
        target = tmp_path / "site"
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target",
                        str(target), str(wheel)], check=True, capture_output=True, timeout=300)
        code = (f"import sys; sys.path.insert(0, {str(target)!r}); import sigkit.audio, sigkit.events, "
                "sigkit.kernels, sigkit.spectral, sigkit.vision, sigkit.ultrasound; "
                "print(sigkit.spectral.__file__); print(sigkit.audio.__file__)")
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120)
        files = out.stdout.split()
        assert all(f.startswith(str(target)) for f in files), files


def test_editable_install_maps_domains():
    import sigkit.audio
    import sigkit.kernels

    assert Path(sigkit.audio.__file__).parent == ROOT / "audio"
    assert Path(sigkit.kernels.__file__).parent == ROOT / "kernels"


def test_cli_usage_and_unknown_command(capsys):
    from sigkit.cli import TOOLS, main

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "fit,validate,test,predict" in out and all(t in out for t in TOOLS)
    assert main(["no-such-tool"]) == 2
    assert "unknown command 'no-such-tool'" in capsys.readouterr().err


def test_console_script_runs():
    exe = Path(sys.executable).parent / "sigkit"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "usage: sigkit" in out.stdout


def test_every_tool_target_resolves():
    import importlib

    from sigkit.cli import TOOLS

    for name, target in TOOLS.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), name
