"""A wheel built from the checkout carries every package, the shipped model and the
resources, and an install from it finds them without the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy of the files git would commit: nothing ignored (runs/, a stale
    # build/) can slip in, and the checkout gets no build/ or *.egg-info.
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(source)],
        capture_output=True, text=True, cwd=out, timeout=300)
    assert done.returncode == 0, done.stderr
    (path,) = out.glob("mspviewer-*.whl")
    return path


def test_wheel_holds_every_package_and_the_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "mspviewer").rglob("__init__.py")}
    for package in packages:  # pyproject.toml lists packages by hand: none may be missing
        assert f"{package}/__init__.py" in names, package
    tracked = subprocess.run(["git", "ls-files", "models", "resources"], cwd=ROOT,
                             capture_output=True, text=True).stdout.split()
    assert "models/msp-default.pt" in tracked
    for file in tracked:
        top, rest = file.split("/", 1)
        assert f"mspviewer/bundled_{top}/{rest}" in names, file
    assert "mspviewer/codec/profiles.json" in names


def test_installed_wheel_finds_model_sample_and_anchors(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("import json, mspviewer.bundled as b, mspviewer.rd as rd\n"
             "from mspviewer.codec import default_model_path, load_model\n"
             "m = load_model(default_model_path())\n"
             "print(json.dumps({'model': str(default_model_path()), 'name': m.name,\n"
             "  'sample': str(b.resources_dir() / 'sample.png'),\n"
             "  'anchors': sorted(p.name for p in rd.ANCHOR_DIR.glob('*.json')),\n"
             "  'package': b.__file__}))\n")
    env = {k: v for k, v in os.environ.items() if k != "MSPVIEWER_MODEL"}
    env["PYTHONPATH"] = str(site)  # ahead of the editable install of the checkout
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert Path(found["package"]).is_relative_to(site)
    assert Path(found["model"]) == site / "mspviewer/bundled_models/msp-default.pt"
    assert found["name"] == "msp-default"
    assert Path(found["sample"]).is_file() and Path(found["sample"]).is_relative_to(site)
    assert "vtm.json" in found["anchors"] and "webp.json" in found["anchors"]
