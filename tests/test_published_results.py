"""The published Kodak results are what the shipped model measured: the README's and the
model card's tables are regenerated from ``docs/kodak_results.json`` by ``mspviewer report``,
and that file names the shipped model by its id."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mspviewer.cli import main

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "kodak_results.json"


def test_results_file_measured_the_shipped_model(shipped_model):
    document = json.loads(RESULTS.read_text())
    assert document["model"]["id"] == shipped_model.model_id().hex()
    assert document["model"]["card"]["training_steps"] == shipped_model.card["training_steps"]
    assert document["num_images"] == len(document["images"]) == 24
    assert document["lambdas"] == list(shipped_model.config.rate.lambdas)


def test_the_bitstream_spec_quotes_the_shipped_model_s_identity(shipped_model):
    """docs/bitstream.md gives the shipped model's configuration and identity as its worked
    example (an identity left from an earlier model had stayed there)."""
    import re

    spec = (ROOT / "docs" / "bitstream.md").read_text()
    quoted = re.search(r"and its identity `([0-9a-f]{16})`", spec)
    assert quoted and quoted.group(1) == shipped_model.model_id().hex()
    configuration = re.search(r"```\n(\{.*\})\n```", spec).group(1)
    assert json.loads(configuration) == json.loads(json.dumps(shipped_model.config.to_dict()))


def test_readme_and_card_tables_are_regenerated_exactly(tmp_path):
    """The same command as the README's, into copies laid out like the checkout."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "models").mkdir()
    readme = tmp_path / "README.md"
    card = tmp_path / "models" / "msp-default.md"
    shutil.copy(ROOT / "README.md", readme)
    shutil.copy(ROOT / "models" / "msp-default.md", card)
    assert main(["report", str(RESULTS), "--plot", str(tmp_path / "docs" / "kodak_rd.png"),
                 "--readme", str(readme), "--card", str(card)]) == 0
    assert readme.read_text() == (ROOT / "README.md").read_text()
    assert card.read_text() == (ROOT / "models" / "msp-default.md").read_text()
    assert (tmp_path / "docs" / "kodak_rd.png").stat().st_size > 10_000
