"""The wheel carries the whole suite: installed (not editable), `harness conform` runs the same
catalogue from an unrelated folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_installed_elsewhere_runs_the_catalogue(tmp_path):
    dist, site, elsewhere = tmp_path / "dist", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist),
                    str(ROOT)], check=True, capture_output=True)
    (wheel,) = dist.glob("dl_harness-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True, capture_output=True)
    assert (site / "harness" / "_suites" / "test_conformance.py").is_file()
    assert (site / "harness" / "_suites" / "xfails" / "numpy.toml").is_file()
    # the installed copy comes first on the path; the dependencies come from this environment
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = ("import sys, harness; from harness.conformance import suite_files; "
            "print(harness.__file__); print(suite_files.suites_dir()); "
            "from harness.cli import main; sys.exit(main(['conform', '--backend', 'numpy', "
            "'--select', 'Dense or LSTM', '--json', 'out.json', '--store', 'h.db']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=elsewhere, env=env, timeout=600)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(str(site)), lines[:2]
    assert lines[1] == str(site / "harness" / "_suites")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads((elsewhere / "out.json").read_text())
    cases = {r["case"] for r in doc["results"]}
    assert {"Dense-linear", "LSTM-mask", "TimeDistributed-Dense"} <= cases
    assert doc["summary"]["failed"] == doc["summary"]["error"] == 0
