"""Settings from pyproject.toml and the command line's usage errors (one line, exit 2)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.config import ConfigError, Settings, load_settings


def harness(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_defaults_without_pyproject(tmp_path):
    assert load_settings(tmp_path) == Settings()


def test_tool_harness_table_overrides_defaults_and_options_override_it(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.harness]\nstore = "x.db"\nbackends = ["numpy", "jax"]\ndtypes = "float64"\n'
        'future_key = 1\n')
    (tmp_path / "sub").mkdir()
    settings = load_settings(tmp_path / "sub")  # found from a subfolder
    assert settings.store == "x.db"
    assert settings.backends == ("numpy", "jax")
    assert settings.dtypes == ("float64",)
    again = settings.with_options(store=None, backends=["torch"])
    assert again.store == "x.db" and again.backends == ("torch",)


@pytest.mark.parametrize("text", ['[tool.harness]\nbackends = 3\n', "[tool.harness\n",
                                  '[tool.harness]\njobs = "many"\n'])
def test_bad_config_is_a_config_error(tmp_path, text):
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(ConfigError):
        load_settings(tmp_path)


@pytest.mark.parametrize("args", [
    ("conform", "--no-such-option"),
    ("frobnicate",),
    ("gate",),  # --base is required
    ("conform", "--backend", "cntk"),
    ("conform", "--backend", "nosuchbackend"),
    ("conform", "--library", "nosuchlib"),
    ("conform", "--backend", "numpy", "--dtype", "int7"),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path, args):
    proc = harness(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), proc.stderr
    assert "Traceback" not in proc.stderr


def test_cntk_says_why(tmp_path):
    proc = harness("conform", "--backend", "cntk", cwd=tmp_path)
    assert "no wheel" in proc.stderr


def test_broken_pyproject_is_a_usage_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.harness\n")
    proc = harness("conform", "--backend", "numpy", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("harness: error: cannot read")


def test_version_and_module_entry_point_agree(tmp_path):
    from harness import __version__

    proc = harness("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"harness {__version__}"
