"""The project's promises to newcomers and CI: README commands, .ci/run, layout."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", setup, re.S)]


def test_readme_has_exactly_two_setup_commands_main_job_and_tests():
    commands = readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("harness run")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert readme_commands()[1] in ci.splitlines()


def test_top_level_layout_of_design_md():
    for name in ("harness", "suites", "reports", "ci", "tests", "noxfile.py", "pyproject.toml",
                 "README.md", "suites/xfails"):
        assert (ROOT / name).exists(), name
    # reports/ holds only its README in git
    ignore = (ROOT / ".gitignore").read_text()
    assert "/reports/*" in ignore and "!/reports/README.md" in ignore
