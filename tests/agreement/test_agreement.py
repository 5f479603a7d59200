"""The differential corpus as a live test: every set of tests/agreement/sets/ locked by ppm and by
the native resolver agrees package for package (run with `pytest -m live tests/agreement`; the
whole corpus takes about 15 minutes on 2 cores; `python tests/agreement/run.py` prints the
report with times). An ecosystem skips when its native tool is not installed."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import run

pytestmark = pytest.mark.live
TOOLS = {"pypi": "uv", "npm": "npm", "cargo": "cargo", "go": "go", "maven": "mvn"}


@pytest.mark.parametrize("ecosystem", run.ECOSYSTEMS)
def test_corpus_agrees_with_the_native_resolver(ecosystem: str, tmp_path: Path) -> None:
    tool = TOOLS[ecosystem]
    if shutil.which(tool, path=str(Path(sys.executable).parent)) is None and shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    outcomes = run.run_ecosystem(ecosystem, tmp_path, [], do_build=False)
    assert len(outcomes) >= 30
    bad = [f"{o.name}: {o.error or '; '.join(o.differences)}" for o in outcomes
           if not o.agrees and not all("(deliberate:" in d for d in o.differences)]
    assert not bad, f"{ecosystem}: ppm and the native resolver differ:\n  " + "\n  ".join(bad)
