"""Kodak results by training step (training/kodak_by_step.json, its README table) and the
learning-curve plot."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from mspviewer.errors import MSPViewerError
from mspviewer.train import curve, kodak_history
from mspviewer.train.kodak_history import ANCHORS

WEBP, VTM, BALLE = ANCHORS


def results(step=1000, weights="moving average of the weights (decay 0.999)", profile="fast",
            webp=-3.96, psnr=31.4987, bpp=0.50449, model_id="00ff"):
    """The parts of an ``mspviewer eval`` results document the history reads."""
    points = [{"quality": lam, "psnr_rgb": psnr + k, "bpp": bpp + k / 10}
              for k, lam in enumerate((0.0067, 0.013, 0.025), start=-1)]
    return {"profile": profile, "num_images": 24,
            "model": {"id": model_id, "card": {"training_steps": step, "weights": weights}},
            "mean": {"points": points},
            "bd_rate_vs": {WEBP: {"bd_rate_percent": webp}, VTM: {"bd_rate_percent": 91.24},
                           "webp (published)": {"bd_rate_percent": -6.0}}}


def eval_document(step, webp):
    """A complete ``mspviewer eval`` document (the published one) carrying ``results()``'s
    card, λ = 0.013 point and BD-rates, as the command reads only real results files."""
    document = json.loads((REPO / "docs" / "kodak_results.json").read_text())
    stand_in = results(step, webp=webp)
    document["model"]["card"].update(stand_in["model"]["card"])
    points = {point["quality"]: point for point in stand_in["mean"]["points"]}
    for point in document["mean"]["points"]:
        point.update({key: points[point["quality"]][key] for key in ("psnr_rgb", "bpp")}
                     if point["quality"] in points else {})
    document["bd_rate_vs"] = {name: {**document["bd_rate_vs"][name], **value}
                              for name, value in stand_in["bd_rate_vs"].items()}
    return document


def test_a_record_holds_the_step_weights_bd_rates_and_the_mid_ladder_point():
    record = kodak_history.record_from_results(results(), "r.json")
    assert (record["step"], record["weights"], record["model_id"]) == (1000, "moving average",
                                                                        "00ff")
    assert record["bd_rate_percent"] == {WEBP: -4.0, VTM: 91.2, BALLE: None}
    assert (record["psnr_rgb"], record["bpp"]) == (31.50, 0.504)  # the λ = 0.013 point
    card_without_weights = results(weights=None)  # cards from before the moving average
    assert kodak_history.record_from_results(card_without_weights, "r")["weights"] == "raw"


@pytest.mark.parametrize("document, message", [
    (results(step=None), "no training step"),
    (results(profile="max"), "profile 'max'"),
    ({**results(), "mean": {"points": [{"quality": 0.0067, "psnr_rgb": 30, "bpp": 0.4}]}},
     "no mean point"),
])
def test_results_that_do_not_fit_the_history_are_refused(document, message):
    with pytest.raises(MSPViewerError, match=message):
        kodak_history.record_from_results(document, "r.json")


def test_records_stay_in_step_order_a_rerun_replaces_and_one_is_shipped():
    def record(step, weights, webp, shipped=False):
        base = kodak_history.record_from_results(
            results(step, "raw" if weights == "raw" else "moving average", webp=webp), "r")
        return kodak_history.add_record([], base, shipped)[0]

    records = []
    for step, weights, webp, shipped in [(30, "ema", 1.0, True), (10, "raw", 9.0, False),
                                         (30, "raw", 2.0, False), (20, "ema", 5.0, False)]:
        records = kodak_history.add_record(records, record(step, weights, webp), shipped)
    assert [(r["step"], r["weights"]) for r in records] == [
        (10, "raw"), (20, "moving average"), (30, "raw"), (30, "moving average")]
    assert [r["step"] for r in records if r.get("shipped")] == [30]
    rerun = record(20, "ema", -1.0)
    records = kodak_history.add_record(records, rerun, shipped=True)
    assert len(records) == 4 and records[1]["bd_rate_percent"][WEBP] == -1.0
    assert [r["step"] for r in records if r.get("shipped")] == [20]


def test_the_command_adds_records_and_writes_the_table_between_the_markers(tmp_path, capsys):
    history, readme = tmp_path / "h.json", tmp_path / "README.md"
    for step, webp in ((2000, -4.04), (1000, 3.9)):
        source = tmp_path / f"r{step}.json"
        source.write_text(json.dumps(eval_document(step, webp)))
        assert kodak_history.main(["--history", str(history), "add", str(source),
                                   "--shipped"]) == 0
    readme.write_text(f"intro\n{kodak_history.MARKER_BEGIN}\nold\n"
                      f"{kodak_history.MARKER_END}\nend\n")
    assert kodak_history.main(["--history", str(history), "table", "--readme", str(readme)]) == 0
    lines = readme.read_text().splitlines()
    assert lines[0] == "intro" and lines[-1] == "end" and "old" not in lines
    assert lines[4] == "| 1,000 | moving average (shipped) | +3.9 % | +91.2 % | — | " \
                       "31.50 dB (0.504 bpp) |"
    assert lines[5].startswith("| 2,000 | moving average | −4.0 % |")

    (tmp_path / "plain.md").write_text("no markers\n")
    capsys.readouterr()
    assert kodak_history.main(["--history", str(history), "table", "--readme",
                               str(tmp_path / "plain.md")]) == 2
    assert "no kodak-by-step markers" in capsys.readouterr().err
    assert kodak_history.main(["--history", str(history), "add", str(tmp_path / "none")]) == 2
    (tmp_path / "other.json").write_text(json.dumps(results()))  # not an eval result
    capsys.readouterr()
    assert kodak_history.main(["--history", str(history), "add",
                               str(tmp_path / "other.json")]) == 2
    assert "not an `mspviewer eval` result" in capsys.readouterr().err


def test_the_training_readme_table_is_the_history_and_the_shipped_record_is_the_shipped_model(
        shipped_model):
    """The table in training/README.md is what the history file gives (regenerate it with
    the module's `table --readme` command), and the record marked shipped was measured on
    the weights in models/."""
    records = kodak_history.read_history(REPO / kodak_history.DEFAULT_HISTORY)
    text = (REPO / "training" / "README.md").read_text()
    section = kodak_history.SECTION.search(text).group(0)
    assert section == (f"{kodak_history.MARKER_BEGIN}\n{kodak_history.markdown_table(records)}"
                       f"{kodak_history.MARKER_END}")
    shipped = [r for r in records if r.get("shipped")]
    assert len(shipped) == 1
    assert shipped[0]["model_id"] == shipped_model.model_id().hex()
    assert shipped[0]["step"] == shipped_model.card["training_steps"]


def trend_records(rate_of_step, steps, weights="moving average"):
    return [{"step": step, "weights": weights, "bd_rate_percent": {WEBP: rate_of_step(step)}}
            for step in steps]


def test_trend_recovers_exact_curves_and_where_they_cross_the_target():
    steps = (40_000, 60_000, 80_000, 120_000)
    # −10 points per doubling through −10 % at 50,000 steps: −35 % after 2.5 more doublings
    log_line = trend_records(lambda step: -10 - 10 * math.log2(step / 50_000), steps)
    fit = kodak_history.trend(log_line + trend_records(lambda step: 0.0, (90_000,), "raw"))
    assert fit["steps"] == list(steps)  # raw weights are not part of the run's curve
    assert fit["log_linear"]["points_per_doubling"] == pytest.approx(-10)
    assert fit["log_linear"]["step_at_target"] == pytest.approx(50_000 * 2 ** 2.5)
    # −30 + 600,000/step levels off at −30 %: it never reaches −35 %, but does reach −25 %
    saturating = trend_records(lambda step: -30 + 600_000 / step, steps)
    fit = kodak_history.trend(saturating, target=-35)
    assert fit["saturating"]["asymptote_percent"] == pytest.approx(-30)
    assert fit["saturating"]["step_at_target"] is None
    assert kodak_history.trend(saturating, target=-25)["saturating"]["step_at_target"] == \
        pytest.approx(120_000)  # −30 + 600,000/120,000 = −25
    # `since` drops the early records; too few left is an error
    assert kodak_history.trend(log_line, since=60_000)["steps"] == [60_000, 80_000, 120_000]
    with pytest.raises(MSPViewerError, match="3 or more steps"):
        kodak_history.trend(log_line, since=80_000)
    worsening = trend_records(lambda step: step / 10_000, steps)
    assert kodak_history.trend(worsening)["log_linear"]["step_at_target"] is None


def test_the_trend_command_prints_both_fits(tmp_path, capsys):
    history = tmp_path / "h.json"
    kodak_history.write_history(history, trend_records(
        lambda step: -10 - 10 * math.log2(step / 50_000), (50_000, 100_000, 200_000)))
    assert kodak_history.main(["--history", str(history), "trend", "--target", "-35"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("BD-rate against webp (measured): 3 records from step 50,000 "
                               "to 200,000 (−10.0 % to −30.0 %)")
    assert lines[1] == "straight line in log(step): −10.0 points per doubling of the steps; " \
                       "reaches the target at step 282,843"  # 50,000 · 2^2.5
    assert kodak_history.main(["--history", str(history), "trend", "--json"]) == 0
    fit = json.loads(capsys.readouterr().out)
    assert fit["log_linear"]["step_at_target"] == pytest.approx(50_000 * 2 ** 2.5)
    assert kodak_history.main(["--history", str(history), "trend", "--target", "-25"]) == 0
    assert capsys.readouterr().out.strip() == ("BD-rate against webp (measured): −30.0 % at "
                                               "step 200,000, the target −25.0 % is reached")
    assert kodak_history.main(["--history", str(history), "trend", "--since", "60000"]) == 2
    assert "3 or more steps from 60,000 on" in capsys.readouterr().err


def log_records(crops=((0, 128), (100, 256)), steps=200, every=5):
    ladder = (0.0018, 0.013)
    return [{"step": step, "lambda": ladder[(step // every) % 2],
             "crop": [size for start, size in crops if step >= start][-1],
             "psnr": 20 + step / 100, "bpp": 0.5, "wall_seconds": step * 1.0}
            for step in range(every, steps + 1, every)]


def test_smoothing_stops_at_a_change_of_crop_size():
    records = log_records()
    assert curve.crop_changes(records) == [(5, 128), (100, 256)]
    pieces = curve.smoothed_series(records, "psnr", window=3)
    assert sorted(pieces) == [0.0018, 0.013]
    for lam, parts in pieces.items():
        assert len(parts) == 2  # one piece per crop size
        (steps_128, _), (steps_256, values_256) = parts
        assert steps_128.max() < 100 <= steps_256.min()
        rows = [r for r in records if r["lambda"] == lam and r["crop"] == 256]
        expected = np.convolve([r["psnr"] for r in rows], np.ones(3) / 3, mode="valid")
        np.testing.assert_allclose(values_256, expected)


@pytest.mark.parametrize("with_kodak, panels", [(False, 2), (True, 3)])
def test_the_curve_command_draws_a_panel_per_measure(tmp_path, with_kodak, panels):
    log, history = tmp_path / "log.jsonl", tmp_path / "kodak.json"
    log.write_text("".join(json.dumps(r) + "\n" for r in log_records()))
    record = kodak_history.record_from_results(results(150), "r")
    kodak_history.write_history(history, [record])
    output = tmp_path / "curve.png"
    argv = [str(log), "-o", str(output)] + (["--kodak", str(history)] if with_kodak else [])
    assert curve.main(argv) == 0
    with Image.open(output) as image:
        assert image.size == (round(5.5 * panels * 110), 440)
