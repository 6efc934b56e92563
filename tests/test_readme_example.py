"""The README's scripting example runs as it stands, against the shipped model."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _scripting_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Scripting\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Scripting section should hold one Python block"
    return blocks[0]


def test_readme_scripting_example_runs(tmp_path):
    """In a fresh process, from another folder (the example must not rely on the working
    directory): its own assertion (decoder = encoder's reconstruction) holds, and LOF stops
    after the 10 iterations its cancel() allows, with J no worse than the plain encode's."""
    env = dict(os.environ, OMP_NUM_THREADS="1")  # as quick on a busy machine as on an idle one
    done = subprocess.run([sys.executable, "-c", _scripting_example()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    fast, balanced = done.stdout.splitlines()
    rate, quality = re.fullmatch(r"fast: (\S+) bpp \(whole file\), (\S+) dB", fast).groups()
    assert 0.05 < float(rate) < 2 and 25 < float(quality) < 50
    match = re.fullmatch(r"balanced, stopped after (\d+) iterations: J (\S+) -> (\S+) \((\w+)\)",
                         balanced)
    iterations, j_initial, j_best, reason = match.groups()
    assert (int(iterations), reason) == (10, "cancelled")
    assert float(j_best) <= float(j_initial)
