"""``sigkit kde analyze``: report, PNG, JSON, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sigkit.cli import main as sigkit_main
from sigkit.errors import InputError
from sigkit.kde.cli import load_points


def test_analyze_writes_png_and_report(tmp_path, capsys):
    x = np.random.default_rng(0).normal(size=(500, 4)) @ np.diag([1.0, 2.0, 0.5, 3.0])
    np.save(tmp_path / "data.npy", x)
    out, js = tmp_path / "fig" / "kde.png", tmp_path / "res.json"
    code = sigkit_main(
        [
            "kde",
            "analyze",
            str(tmp_path / "data.npy"),
            "--out",
            str(out),
            "--json",
            str(js),
            "--grid",
            "6",
            "--queries",
            "48",
        ]
    )
    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    text = capsys.readouterr().out
    assert "alpha=ln(n)/d=" in text and "h_CLT=" in text and "regime" in text and "figure:" in text
    res = json.loads(js.read_text())
    assert res["n_train"] == 400 and res["n_test"] == 100 and res["d"] == 4
    assert res["theory"]["alpha"] == pytest.approx(np.log(400) / 4)
    assert len(res["grid"]) == 6 and set(res["selectors"]) == {"scott", "silverman", "lcv"}
    # whitened data: Scott's factor is the isotropic bandwidth in std units
    assert res["selectors"]["scott"]["h"] == pytest.approx(400 ** (-1 / 8))
    hs = [r["h"] for r in res["grid"]]
    prs = [r["pr_median"] for r in res["grid"]]
    assert hs == sorted(hs) and prs == sorted(prs)
    assert res["data_driven"]["h_G"] < res["data_driven"]["h_CLT"]


def test_analyze_errors(tmp_path, capsys):
    assert sigkit_main(["kde", "analyze", str(tmp_path / "missing.npy")]) == 1
    assert "missing.npy: no such file" in capsys.readouterr().err
    bad = np.ones((50, 2))
    bad[4, 0] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(InputError, match=r"1 row\(s\) contain NaN or Inf \(first rows: \[4\]\)"):
        load_points(tmp_path / "nan.npy")
    np.save(tmp_path / "flat.npy", np.c_[np.arange(50.0), np.arange(50.0) * 2])
    assert sigkit_main(["kde", "analyze", str(tmp_path / "flat.npy")]) == 1
    assert "covariance is singular" in capsys.readouterr().err
    np.savetxt(tmp_path / "pts.csv", np.random.default_rng(1).normal(size=(30, 3)), delimiter=",")
    assert load_points(tmp_path / "pts.csv").shape == (30, 3)
