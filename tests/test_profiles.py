"""Encoding profiles: data, validation, unknown names, the `profiles` and `encode` commands."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from conftest import smooth_image
from mspviewer.codec.profiles import (PROFILES_ENV, Profile, ProfileError, UnknownProfileError,
                                      builtin_profiles_path, get_profile, load_profiles,
                                      parse_profiles, profile_names)
from mspviewer.errors import MSPViewerError


pytestmark = pytest.mark.usefixtures("one_thread")


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Runs ``mspviewer ARGS`` in this process (no interpreter start-up per call)."""
    from mspviewer.cli import main

    def run(*args, profiles=None):
        if profiles is None:
            monkeypatch.delenv(PROFILES_ENV, raising=False)
        else:
            monkeypatch.setenv(PROFILES_ENV, str(profiles))
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit_:  # argparse refusals
            code = exit_.code
        out, err = capsys.readouterr()
        return Done(code, out, err)

    return run


def write_profiles(path, *entries):
    path.write_text(json.dumps({"format": "mspviewer-profiles", "version": 1,
                                "profiles": list(entries)}))
    return path


def test_shipped_profiles_come_from_the_data_file():
    data = json.loads(builtin_profiles_path().read_text())
    assert [p["name"] for p in data["profiles"]] == list(profile_names())
    profiles = load_profiles()
    assert {"fast", "balanced", "max"} <= set(profiles)
    fast, balanced, best = profiles["fast"], profiles["balanced"], profiles["max"]
    assert not fast.uses_lof and not fast.greedy
    assert 150 <= balanced.lof_iterations <= 300 and not balanced.greedy
    assert best.lof_iterations >= 1000 and best.greedy and best.greedy_budget > 0
    for profile in profiles.values():
        assert profile.description and "\n" not in profile.description
        assert get_profile(profile.name) == profile
        assert Profile.from_dict(profile.to_dict()) == profile
    with pytest.raises(Exception):
        fast.lof_iterations = 5  # frozen


def test_unknown_profile_names_the_valid_ones():
    with pytest.raises(UnknownProfileError) as caught:
        get_profile("turbo")
    assert isinstance(caught.value, MSPViewerError)
    message = str(caught.value)
    assert "turbo" in message
    for name in profile_names():
        assert name in message


def test_profiles_file_can_be_replaced(tmp_path, monkeypatch):
    path = write_profiles(tmp_path / "profiles.json", {
        "name": "quick", "description": "ten steps", "lof_iterations": 10,
        "learning_rate": 0.05, "time_budget_s": 2})
    quick = load_profiles(path)["quick"]
    assert quick.lof_iterations == 10 and quick.time_budget_s == 2.0 and not quick.greedy
    monkeypatch.setenv(PROFILES_ENV, str(path))
    assert profile_names() == ("quick",) and get_profile("quick") == quick
    with pytest.raises(UnknownProfileError, match="valid profiles: quick"):
        get_profile("balanced")


def test_the_step_scales_with_lambda_as_the_profile_says(tmp_path):
    path = write_profiles(tmp_path / "profiles.json", {
        "name": "scaled", "description": "step grows with λ", "lof_iterations": 10,
        "learning_rate": 0.01, "lr_lambda_exponent": 1, "lr_reference_lambda": 0.01})
    scaled = load_profiles(path)["scaled"]
    assert scaled.lr_lambda_exponent == 1.0 and isinstance(scaled.lr_lambda_exponent, float)
    assert scaled.learning_rate_at(0.01) == pytest.approx(0.01)
    assert scaled.learning_rate_at(0.04) == pytest.approx(0.04)
    assert scaled.replace(lr_lambda_exponent=0.5).learning_rate_at(0.04) == pytest.approx(0.02)
    # exponent 0, the shipped profiles: the same step at every λ
    assert get_profile("balanced").learning_rate_at(0.0018) == get_profile("balanced").learning_rate


def test_the_annealing_temperature_falls_geometrically():
    profile = Profile("a", "annealed", lof_iterations=5, rounding="annealed",
                      temperature_start=0.4, temperature_end=0.025)
    assert [profile.temperature_at(step) for step in range(5)] == pytest.approx(
        [0.4, 0.2, 0.1, 0.05, 0.025])
    assert profile.replace(lof_iterations=1).temperature_at(0) == 0.025
    entry = {"name": "x", "description": "d", "lof_iterations": 3, "rounding": "annealed",
             "temperature_start": 1, "temperature_end": 1}  # JSON integers are accepted
    text = json.dumps({"format": "mspviewer-profiles", "version": 1, "profiles": [entry]})
    assert parse_profiles(text)["x"].temperature_start == 1.0


def test_a_longer_schedule_is_followed_part_way():
    """schedule_iterations: the step and the temperature follow a schedule of that length,
    and LOF stops after lof_iterations of it."""
    full = Profile("full", "the whole schedule", lof_iterations=8, learning_rate=0.4,
                   rounding="annealed", temperature_start=0.5, temperature_end=0.05)
    cut = full.replace(name="cut", lof_iterations=3, schedule_iterations=8)
    assert (full.schedule_length, cut.schedule_length) == (8, 8)
    expected = [0.5 * (0.1 ** (step / 7)) for step in range(3)]  # geometric, 8 steps long
    assert [cut.temperature_at(step) for step in range(3)] == pytest.approx(expected)
    assert [cut.temperature_at(s) for s in range(3)] == [full.temperature_at(s) for s in range(3)]
    assert cut.max_iterations == 3
    # 0 (the default) and the same length are one schedule
    assert full.replace(schedule_iterations=8).temperature_at(5) == full.temperature_at(5)


@pytest.mark.parametrize("change, words", [
    ({"lof_iterations": -1}, "lof_iterations"),
    ({"speed": 3}, "unknown fields"),
    ({"lr_schedule": "linear"}, "lr_schedule"),
    ({"lr_backoff_patience": -1}, "lr_backoff_patience must be an integer >= 0"),
    ({"lr_backoff_patience": 2.5}, "lr_backoff_patience must be an integer"),
    ({"lr_reference_lambda": 0}, r"lr_reference_lambda must be within \[0.0001, 1\]"),
    ({"lr_reference_lambda": 1e-300}, "lr_reference_lambda must be within"),
    ({"lr_lambda_exponent": "1"}, "lr_lambda_exponent must be a number"),
    ({"lr_lambda_exponent": float("nan")}, "lr_lambda_exponent must be within ±4"),
    ({"lr_lambda_exponent": 600}, "lr_lambda_exponent must be within ±4"),
    # JSON's Infinity parses: a step that would make LOF's latent non-finite at once
    ({"learning_rate": float("inf")}, "learning_rate must be finite and > 0"),
    ({"learning_rate": 0}, "learning_rate must be finite and > 0"),
    ({"description": "two\nlines"}, "one non-empty line"),
    ({"greedy": True, "greedy_budget": 5, "greedy_batch_fraction": 0}, "greedy_batch_fraction"),
    # wrong types: a message, not a TypeError from the value checks
    ({"learning_rate": "0.1"}, "learning_rate must be a number"),
    ({"description": 3}, "description must be a string"),
    ({"time_budget_s": "soon"}, "time_budget_s must be a number or null"),
    ({"greedy_batch_fraction": [0.5]}, "greedy_batch_fraction must be a number"),
    ({"lof_iterations": True}, "lof_iterations must be an integer"),
    ({"greedy": 1}, "greedy must be true or false"),
    ({"name": 7}, "name must be a string"),
    ({"rounding": "gumbel"}, "rounding must be one of"),
    ({"temperature_start": 0.1, "temperature_end": 0.2}, "temperature_end <= temperature_start"),
    ({"temperature_start": 2.0}, "temperature_start <= 1"),
    ({"temperature_end": 0}, "0.001 <= temperature_end"),
    ({"temperature_end": float("nan")}, "temperatures must satisfy"),
    ({"temperature_start": "hot"}, "temperature_start must be a number"),
    ({"schedule_iterations": 2}, "schedule_iterations must be 0 .* or at least lof_iterations"),
    ({"schedule_iterations": 5.0}, "schedule_iterations must be an integer"),
])
def test_invalid_profiles_are_refused(change, words):
    entry = {"name": "x", "description": "d", "lof_iterations": 3} | change
    text = json.dumps({"format": "mspviewer-profiles", "version": 1, "profiles": [entry]})
    with pytest.raises(ProfileError, match=words):
        parse_profiles(text)


def test_duplicate_and_malformed_files_are_refused():
    entry = {"name": "x", "description": "d"}
    with pytest.raises(ProfileError, match="twice"):
        parse_profiles(json.dumps({"format": "mspviewer-profiles", "version": 1,
                                   "profiles": [entry, entry]}))
    with pytest.raises(ProfileError, match="not valid JSON"):
        parse_profiles("{")
    with pytest.raises(ProfileError, match="version"):
        parse_profiles(json.dumps({"format": "mspviewer-profiles", "version": 9,
                                   "profiles": [entry]}))


def test_profiles_command_lists_names_and_descriptions(run_cli):
    done = run_cli("profiles")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == list(profile_names())
    for line, name in zip(lines, profile_names()):
        assert line == f"{name}: {get_profile(name).description}"
    as_json = run_cli("--json", "profiles")
    assert as_json.returncode == 0, as_json.stderr
    listed = json.loads(as_json.stdout)["profiles"]
    assert [Profile.from_dict(p) for p in listed] == list(load_profiles().values())


def test_encode_command_with_profile_and_target_bpp(tmp_path, model_file, run_cli):
    from mspviewer.imageio import save_png

    image = tmp_path / "in.png"
    save_png(smooth_image(32, 48), image)
    # Same command, a profiles file with a short LOF so the test stays quick.
    profiles = write_profiles(
        tmp_path / "profiles.json",
        {"name": "fast", "description": "no LOF"},
        {"name": "quick", "description": "three steps then greedy", "lof_iterations": 3,
         "learning_rate": 0.3, "greedy": True, "greedy_budget": 3,
         "greedy_batch_fraction": 0.5})
    out = tmp_path / "out.msp"
    done = run_cli("--json", "encode", image, "-o", out, "--profile", "quick",
                   "--lambda", "0.01", "--model", model_file, profiles=profiles)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["profile"] == "quick" and result["file_bytes"] == out.stat().st_size
    lof = result["lof"]
    assert 3 <= lof["iterations"] <= 6 and lof["J_best"] <= lof["J_initial"]
    decoded = run_cli("--json", "decode", out, "-o", tmp_path / "out.png", "--model", model_file)
    assert decoded.returncode == 0, decoded.stderr

    target = run_cli("--json", "encode", image, "-o", tmp_path / "t.msp", "--bpp", "0.3",
                     "--model", model_file)
    assert target.returncode == 0, target.stderr
    searched = json.loads(target.stdout)
    assert searched["target_bpp"] == 0.3 and searched["rate_search"]
    assert searched["profile"] == "fast"

    unknown = run_cli("encode", image, "-o", tmp_path / "u.msp", "--profile", "turbo",
                      "--model", model_file)
    assert unknown.returncode == 2
    assert "valid profiles: fast, quick, balanced, max" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    assert not (tmp_path / "u.msp").exists()
    both = run_cli("encode", image, "-o", tmp_path / "b.msp", "--bpp", "0.3", "--lambda", "0.01")
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_encode_command_time_budget(tmp_path, model_file, run_cli):
    """--time-budget caps LOF (a profile of 100 000 steps stops, with the best latent, and
    the stream decodes); it is refused unless positive and said to do nothing for fast."""
    from mspviewer.imageio import save_png

    image = tmp_path / "in.png"
    save_png(smooth_image(32, 48), image)
    profiles = write_profiles(
        tmp_path / "profiles.json",
        {"name": "fast", "description": "no LOF"},
        {"name": "endless", "description": "far more steps than a test can wait for",
         "lof_iterations": 100_000, "learning_rate": 0.3, "rounding": "annealed"})
    out = tmp_path / "out.msp"
    done = run_cli("--json", "encode", image, "-o", out, "--profile", "endless",
                   "--lambda", "0.01", "--time-budget", "2", "--model", model_file,
                   profiles=profiles)
    assert done.returncode == 0, done.stderr
    lof = json.loads(done.stdout)["lof"]
    assert lof["stop_reason"] == "time_budget" and 0 < lof["iterations"] < 100_000
    assert lof["J_best"] <= lof["J_initial"]
    decoded = run_cli("decode", out, "-o", tmp_path / "out.png", "--model", model_file)
    assert decoded.returncode == 0, decoded.stderr

    fast = run_cli("encode", image, "-o", tmp_path / "f.msp", "--time-budget", "2",
                   "--model", model_file, profiles=profiles)
    assert fast.returncode == 0 and "no effect" in fast.stderr
    for wrong in ("0", "-1", "nan"):
        refused = run_cli("encode", image, "-o", tmp_path / "w.msp", "--time-budget", wrong,
                          "--profile", "endless", "--model", model_file, profiles=profiles)
        assert refused.returncode == 2 and "--time-budget" in refused.stderr, wrong
        assert not (tmp_path / "w.msp").exists()
