"""Run a generated reproduction script the way a maintainer would: alone, with ``harness``
unimportable (isolated mode: no PYTHONPATH, no cwd on the path, and the name blocked)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

HARNESS_IMPORT = re.compile(r"^\s*(import|from)\s+harness\b", re.MULTILINE)
RUNNER = ("import runpy, sys; sys.modules['harness'] = None; "
          "runpy.run_path(sys.argv[1], run_name='__main__')")


def run_standalone(text: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Write ``text`` to ``folder/repro.py`` and run it standalone; the finished process."""
    assert not HARNESS_IMPORT.search(text)
    path = folder / "repro.py"
    path.write_text(text, encoding="utf-8")
    return subprocess.run([sys.executable, "-I", "-c", RUNNER, str(path)], capture_output=True,
                          text=True, cwd=folder, timeout=300)


def load_script(text: str, folder: Path, name: str):  # type: ignore[no-untyped-def]
    """Import ``text`` as module ``name`` (written to ``folder``) without running its main."""
    path = folder / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as for any import: dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module
