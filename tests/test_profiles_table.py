"""benchmarks/profiles_table.py on two small images, two λ and two profiles (fast and a
three-iteration LOF): its JSON-lines rows against independent encodes, its BD-rates against
the ``bjontegaard`` package, its J drops and other columns against the rows.

The shipped model is used, not the tiny random one: the random model's PSNR does not rise
with λ, so no BD-rate exists on its curves and the table's BD columns would be "—".
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import statistics
import warnings

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from conftest import KODAK, load_script, smooth_image
from mspviewer.codec import decode_bytes, default_model_path, encode_image
from mspviewer.codec.profiles import Profile
from mspviewer.imageio import load_image, save_png

with warnings.catch_warnings():  # bjontegaard imports matplotlib.pyplot
    warnings.simplefilter("ignore")
    import bjontegaard

HEIGHT, WIDTH = 32, 48
LAMBDAS = [0.0018, 0.0483]
LOF = {"name": "lof3", "description": "three LOF steps (test)", "lof_iterations": 3,
       "learning_rate": 0.05, "lr_schedule": "constant", "rate_gradient": "continuous",
       "greedy": False, "greedy_budget": 0, "greedy_batch_fraction": 0.0,
       "time_budget_s": None}
FAST = {"name": "fast", "description": "analysis transform only", "lof_iterations": 0,
        "learning_rate": 0.0, "lr_schedule": "constant"}


def _load(name: str):
    return load_script("benchmarks", name)


def run_table(module, arguments: list[str]) -> str:
    """Run the script's main; its stdout (the table). It sets torch's threads: restored."""
    threads = torch.get_num_threads()
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            assert module.main(arguments) == 0
    finally:
        torch.set_num_threads(threads)
    return out.getvalue()


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("profiles-table")
    (folder / "images").mkdir()
    # Two unlike images (rates and PSNRs far apart), so that the mean curve's BD-rate and
    # the mean of the images' BD-rates differ, and a wrong average would show.
    kodak = load_image(KODAK / "kodim23.png").pixels[100:100 + HEIGHT, 200:200 + WIDTH]
    images = {"a-smooth.png": smooth_image(HEIGHT, WIDTH, seed=1),
              "b-kodim23.png": np.ascontiguousarray(kodak)}
    for name, pixels in images.items():
        save_png(pixels, folder / "images" / name)
    profiles = folder / "profiles.json"
    profiles.write_text(json.dumps({"format": "mspviewer-profiles", "version": 1,
                                    "profiles": [FAST, LOF]}))
    doc = folder / "profiles.md"
    doc.write_text("# Encoding profiles\n\nWritten by hand.\n")
    results = folder / "results.jsonl"
    arguments = ["--images", str(folder / "images"), "--lambdas", ",".join(map(str, LAMBDAS)),
                 "--profiles", "fast,lof3", "--profiles-file", str(profiles),
                 "--model", str(default_model_path()), "--results", str(results),
                 "--doc", str(doc)]
    module = _load("profiles_table")
    printed = run_table(module, arguments)
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    return {"module": module, "arguments": arguments, "printed": printed, "rows": rows,
            "results": results, "doc": doc, "images": images}


def select(rows, profile, lam=None, image=None):
    return [r for r in rows if r["profile"] == profile and (lam is None or r["lambda_key"] == lam)
            and (image is None or r["image"] == image)]


def curve(rows, profile, image=None):
    """(rates, PSNRs) over the λ ladder; the mean over the images unless one is named."""
    groups = [select(rows, profile, lam, image) for lam in LAMBDAS]
    assert all(len(group) == (1 if image else 2) for group in groups)
    return ([float(np.mean([r["bpp"] for r in group])) for group in groups],
            [float(np.mean([r["psnr_rgb"] for r in group])) for group in groups])


def reference_bd_rate(anchor, test) -> float:
    for values in (*anchor, *test):  # increasing: nothing for rd.rd_front to leave out
        assert all(b > a for a, b in zip(values, values[1:])), values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the package warns on a partial overlap
        return bjontegaard.bd_rate(*anchor, *test, method="pchip",
                                   require_matching_points=False, min_overlap=0)


def table_cells(text: str, profile: str, table: int = 0) -> list[str]:
    """A profile's row in the main table (0) or in the J-drop-by-λ table (1)."""
    lines = [line for line in text.splitlines() if line.startswith(f"| {profile} |")]
    assert len(lines) <= 2, lines
    return [cell.strip() for cell in lines[table].strip().strip("|").split("|")]


def percent(cell: str) -> float:
    assert cell.endswith(" %"), cell
    return float(cell[:-2])


@pytest.fixture(scope="module")
def reencoded(table, shipped_model, one_thread):
    """Every row's encode made again here: the same model, λ and profile, one thread as the
    script uses (LOF is then deterministic). (image, λ, profile) → (bitstream, decoded, LOF)."""
    profiles = {"fast": "fast", "lof3": Profile.from_dict(LOF)}
    encodes = {}
    for row in table["rows"]:
        encoded = encode_image(shipped_model, table["images"][row["image"]], row["lambda_key"],
                               profiles[row["profile"]])
        decoded = decode_bytes(shipped_model, encoded.bitstream).pixels
        encodes[row["image"], row["lambda_key"], row["profile"]] = (encoded.bitstream, decoded,
                                                                    encoded.lof)
    return encodes


def test_rows_are_real_encodes(table, shipped_model, reencoded):
    """Every row once; its rate that of the re-encoded file, its PSNR that of the file's
    decode measured with scikit-image."""
    rows = table["rows"]
    assert len(rows) == 2 * len(LAMBDAS) * 2
    assert sorted((r["image"], r["lambda_key"], r["profile"]) for r in rows) == sorted(
        (name, lam, profile) for name in table["images"] for lam in LAMBDAS
        for profile in ("fast", "lof3"))
    assert all(r["model_id"] == shipped_model.model_id().hex() for r in rows)
    for row in rows:
        pixels = table["images"][row["image"]]
        bitstream, decoded, lof = reencoded[row["image"], row["lambda_key"], row["profile"]]
        assert row["lambda"] == pytest.approx(row["lambda_key"], rel=1e-6)
        assert row["bpp"] == 8 * len(bitstream) / (HEIGHT * WIDTH)
        assert row["psnr_rgb"] == pytest.approx(
            peak_signal_noise_ratio(pixels, decoded, data_range=255), rel=1e-9)
        assert row["encode_seconds"] > 0
        if row["profile"] == "lof3":
            assert row["iterations"] == LOF["lof_iterations"]
            assert (row["J_initial"], row["J_best"]) == pytest.approx(
                (lof.J_initial, lof.J_best), rel=1e-9)
        else:
            assert "J_initial" not in row


def test_j_values_are_those_of_the_coded_files(table, reencoded):
    """J = bpp + λ·255²·MSE. Less λ times the MSE of the row's decoded image (from its
    PSNR), J_best must be the information in the LOF file's payload, and J_initial (g_a's
    latent) that in the fast file's: at most its 32-bit words, and less than two words
    short of them (the range coder's rounding and flush)."""
    from mspviewer.codec.bitstream import parse

    rows = table["rows"]
    for row in select(rows, "lof3"):
        (fast,) = select(rows, "fast", row["lambda_key"], row["image"])
        for j, measured in ((row["J_best"], row), (row["J_initial"], fast)):
            mse = 255.0**2 / 10 ** (measured["psnr_rgb"] / 10)  # 8-bit units
            coded_bits = (j - row["lambda"] * mse) * HEIGHT * WIDTH
            bitstream = reencoded[row["image"], row["lambda_key"], measured["profile"]][0]
            payload_bits = 32 * parse(bitstream)[0].payload_words
            assert 0 <= payload_bits - coded_bits < 64, (measured, coded_bits, payload_bits)
        assert row["J_best"] <= row["J_initial"]


def test_bd_rates_match_the_bjontegaard_package(table):
    rows, module = table["rows"], table["module"]
    names = sorted(table["images"])
    mean_curve = reference_bd_rate(curve(rows, "fast"), curve(rows, "lof3"))
    per_image = statistics.fmean(
        reference_bd_rate(curve(rows, "fast", name), curve(rows, "lof3", name))
        for name in names)
    assert math.isfinite(mean_curve) and math.isfinite(per_image)
    assert mean_curve != per_image  # the two columns are different quantities here

    summary = module.summarise(rows, ["fast", "lof3"], names, LAMBDAS)
    assert summary["fast"]["bd_rate_mean_curve"] is None
    assert abs(summary["lof3"]["bd_rate_mean_curve"] - mean_curve) < 0.1
    assert abs(summary["lof3"]["bd_rate_per_image"] - per_image) < 0.1
    assert summary["lof3"]["bd_images"] == len(names)

    for text in (table["printed"], table["doc"].read_text()):  # the table as shown
        cells = table_cells(text, "lof3")
        assert abs(percent(cells[1]) - mean_curve) < 0.1 + 0.005  # printed to 0.01
        assert abs(percent(cells[2]) - per_image) < 0.1 + 0.005
        assert table_cells(text, "fast")[1:3] == ["anchor", "anchor"]


def test_j_drop_and_the_other_columns_match_the_rows(table):
    rows = table["rows"]
    lof_rows = select(rows, "lof3")
    drop = statistics.fmean(100 * (r["J_initial"] - r["J_best"]) / r["J_initial"]
                            for r in lof_rows)
    assert drop > 0  # three LOF steps lowered J somewhere
    summary = table["module"].summarise(rows, ["fast", "lof3"], sorted(table["images"]),
                                        LAMBDAS)
    assert summary["lof3"]["j_drop_percent"] == pytest.approx(drop, rel=1e-12)
    assert "j_drop_percent" not in summary["fast"]
    for text in (table["printed"], table["doc"].read_text()):
        assert percent(table_cells(text, "lof3")[3]) == pytest.approx(drop, abs=0.005)
        assert table_cells(text, "fast")[3] == "—"
        for profile in ("fast", "lof3"):
            own = select(rows, profile)
            cells = table_cells(text, profile)
            assert float(cells[4]) == pytest.approx(
                statistics.fmean(r["encode_seconds"] for r in own), abs=0.005)
            assert float(cells[5]) == pytest.approx(
                statistics.fmean(r["bpp"] for r in own), abs=0.00005)
            assert float(cells[6]) == pytest.approx(
                statistics.fmean(r["psnr_rgb"] for r in own), abs=0.005)


def test_j_drop_by_lambda_matches_the_rows(table):
    rows = table["rows"]
    summary = table["module"].summarise(rows, ["fast", "lof3"], sorted(table["images"]),
                                        LAMBDAS)
    assert "j_drop_by_lambda" not in summary["fast"]
    for text in (table["printed"], table["doc"].read_text()):
        assert len([line for line in text.splitlines() if line.startswith("| fast |")]) == 1
        cells = table_cells(text, "lof3", table=1)
        assert len(cells) == 1 + len(LAMBDAS)
        for lam, cell, at in zip(LAMBDAS, cells[1:], summary["lof3"]["j_drop_by_lambda"]):
            own = select(rows, "lof3", lam)
            drops = [100 * (r["J_initial"] - r["J_best"]) / r["J_initial"] for r in own]
            unchanged = sum(r["J_best"] >= r["J_initial"] for r in own)
            assert at == {"mean": pytest.approx(statistics.fmean(drops), rel=1e-12),
                          "unchanged": unchanged, "images": len(own)}
            assert percent(cell.split(" (")[0]) == pytest.approx(statistics.fmean(drops),
                                                                  abs=0.005)
            assert cell.endswith(f"({unchanged}/2 unchanged)") == (unchanged > 0), cell
        # the mean over λ of the per-λ means is the overall mean: every λ has both images
        overall = statistics.fmean(at["mean"] for at in summary["lof3"]["j_drop_by_lambda"])
        assert overall == pytest.approx(summary["lof3"]["j_drop_percent"], rel=1e-12)


def test_doc_keeps_its_text_and_holds_the_printed_table(table):
    text = table["doc"].read_text()
    assert text.startswith("# Encoding profiles\n\nWritten by hand.\n")
    begin, end = "<!-- profiles-table:cpu:begin -->\n", "<!-- profiles-table:cpu:end -->"
    assert text.count(begin) == 1 and text.count(end) == 1
    block = text[text.index(begin) + len(begin):text.index(end)]
    assert block == table["printed"].rstrip("\n") + "\n"
    assert "λ ladder: 0.0018, 0.0483" in text and "Images: 2 from" in text


def test_a_second_run_reuses_every_row_and_replaces_the_table(table):
    before = table["results"].read_text()
    printed = run_table(table["module"], table["arguments"])
    assert table["results"].read_text() == before  # nothing encoded again
    assert table_cells(printed, "lof3") == table_cells(table["printed"], "lof3")
    text = table["doc"].read_text()
    assert text.count("<!-- profiles-table:cpu:begin -->") == 1
    assert text.startswith("# Encoding profiles\n\nWritten by hand.\n")


def test_a_partial_run_says_what_it_left_out(table, tmp_path):
    """Two λ of the model's six: the table says it is partial, and why; crops and a subset
    of the folder are named too. A --note is printed with the table, not again in the
    command line shown."""
    module = table["module"]
    ladder = len(module.load_model(str(default_model_path())).config.rate.lambdas)
    assert f"**Partial run** (2 λ, not the model's ladder of {ladder})" in table["printed"]
    assert "(a-smooth, b-kodim23) (full size)" in table["printed"]
    context = {"crop": "16x16", "images": 1, "folder_images": 2, "lambdas": [0.1, 0.2],
               "model_lambdas": [0.1, 0.2]}
    assert module.partial_reasons(context) == ["centre crops of 16x16",
                                               "1 of the folder's 2 images"]
    assert module.partial_reasons(context | {"crop": None, "images": 2}) == []

    note = "Ran beside another job; times are upper bounds."
    printed = run_table(module, table["arguments"][:-1] + [str(tmp_path / "doc.md"),
                                                           "--note", note])
    assert f"\n{note}\n" in printed
    assert f"--doc {tmp_path / 'doc.md'} --note ...` on" in printed  # shown once, above


def test_cached_only_builds_the_table_of_another_device_from_its_rows(table, tmp_path):
    """A GPU run's rows, brought back, make its table here: the same cells as a table of the
    same numbers, the device named from the rows, nothing encoded; an encode missing from
    the file stops it with its name."""
    gpu_rows = tmp_path / "gpu.jsonl"
    with gpu_rows.open("w") as stream:
        for row in table["rows"]:
            row = dict(row, key=row["key"].rsplit("|", 1)[0] + "|cuda", device="NVIDIA H200")
            stream.write(json.dumps(row) + "\n")
        # a row of another image, measured on another GPU: not in this table, nor its name
        stream.write(json.dumps(dict(row, key="c-other.png" + row["key"][len(row["image"]):],
                                     image="c-other.png", device="NVIDIA A100")) + "\n")
    before = gpu_rows.read_text()
    arguments = [a if a != str(table["results"]) else str(gpu_rows) for a in table["arguments"]]
    arguments[arguments.index("--doc") + 1] = str(tmp_path / "doc.md")
    printed = run_table(table["module"], arguments + ["--cached-only", "--device", "cuda"])
    assert gpu_rows.read_text() == before
    assert "- Device: NVIDIA H200" in printed
    for profile in ("fast", "lof3"):
        assert table_cells(printed, profile) == table_cells(table["printed"], profile)
    assert "<!-- profiles-table:cuda:begin -->" in (tmp_path / "doc.md").read_text()

    assert "A100" not in printed
    gpu_rows.write_text("".join(before.splitlines(keepends=True)[1:]))  # one encode less
    first = table["rows"][0]
    with pytest.raises(SystemExit, match=f"no encode of {first['image']} at "
                                         f"λ={first['lambda_key']:g} with {first['profile']}"):
        run_table(table["module"], arguments + ["--cached-only", "--device", "cuda"])


def test_a_decode_that_misses_the_reconstruction_stops_or_is_counted(table, reencoded,
                                                                     tmp_path, monkeypatch):
    """A decoder that returns one pixel value off: the script stops, or with
    --allow-mismatch records the difference, measures PSNR on the decoded image and says so
    under the table instead of claiming exactness."""
    module = table["module"]
    real_decode = module.decode_bytes

    def one_value_off(model, data):
        decoded = real_decode(model, data)
        decoded.pixels[0, 0, 0] ^= 1
        return decoded

    monkeypatch.setattr(module, "decode_bytes", one_value_off)
    arguments = list(table["arguments"])
    arguments[arguments.index("--results") + 1] = str(tmp_path / "rows.jsonl")
    arguments[arguments.index("--doc") + 1] = "-"
    with pytest.raises(SystemExit, match="decoded pixels differ"):
        run_table(module, arguments)
    printed = run_table(module, arguments + ["--allow-mismatch"])
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(r["mismatch_values"] == 1 and r["mismatch_max"] == 1
                                  for r in rows)
    for row in rows:  # PSNR of the decoded image, one value off, not of the encoder's
        decoded = reencoded[row["image"], row["lambda_key"], row["profile"]][1].copy()
        decoded[0, 0, 0] ^= 1
        expected = peak_signal_noise_ratio(table["images"][row["image"]], decoded,
                                           data_range=255)
        assert row["psnr_rgb"] == pytest.approx(expected, abs=1e-9)
    assert ("**8 of 8 bitstreams decoded to an image that differs from the encoder's "
            "reconstruction** (by up to 1 in a pixel value)") in printed
    assert "matched the encoder's reconstruction exactly" not in printed


def test_batched_lof_encodes_give_the_rows_of_single_ones(table, tmp_path):
    """--batch 4: the four lof3 encodes (two images of one size, two λ) run as one LOF
    batch; on CPU each row measures the file the single encode wrote, says its batch (also
    in its cache key: its time is a share of the batch's) and the table says so."""
    arguments = list(table["arguments"])
    arguments[arguments.index("--results") + 1] = str(tmp_path / "batched.jsonl")
    arguments[arguments.index("--doc") + 1] = "-"
    printed = run_table(table["module"], arguments + ["--batch", "4"])
    batched = [json.loads(line) for line in (tmp_path / "batched.jsonl").read_text().splitlines()]
    assert len(batched) == len(table["rows"])
    single = {row["key"]: row for row in table["rows"]}
    for row in batched:
        if row["profile"] == "lof3":
            assert row["batch"] == 4 and row["key"].endswith("|batch4")
            alone = single[row["key"].removesuffix("|batch4")]
            assert (row["J_initial"], row["J_best"]) == pytest.approx(
                (alone["J_initial"], alone["J_best"]), rel=1e-6)
        else:  # fast runs no LOF: encoded one by one
            assert "batch" not in row
            alone = single[row["key"]]
        assert (row["bpp"], row["psnr_rgb"]) == (alone["bpp"], alone["psnr_rgb"])
    assert "`lof3` in batches of 4" in printed
    assert "batches of" not in table["printed"]


def test_encode_groups_batch_one_lof_profile_and_one_size_at_a_time(table):
    module = table["module"]
    fast, lof = Profile.from_dict(FAST), Profile.from_dict(LOF)
    wide, tall = np.zeros((4, 8, 3), np.uint8), np.zeros((8, 4, 3), np.uint8)
    jobs = [dict(key=k, pixels=pixels, profile=profile)
            for k, (pixels, profile) in enumerate(
                [(wide, fast), (wide, lof), (tall, lof), (wide, lof), (wide, lof), (tall, lof)])]
    keys = [[job["key"] for job in group] for group in module.encode_groups(jobs, 2)]
    assert keys == [[0], [1, 3], [2, 5], [4]]
    assert [[job["key"] for job in group] for group in module.encode_groups(jobs, 1)] == \
        [[k] for k in range(6)]


def test_header_share_takes_the_header_off_both_curves(table, reencoded, tmp_path, capsys):
    """benchmarks/header_share.py: the BD-rates on the file are the table's, those on the
    payload the same computed on bpp less each row's header; rows without the header's size
    (written before the field) get it from a fast encode made there, which gives the same."""
    from mspviewer.codec.bitstream import parse

    rows, names = table["rows"], sorted(table["images"])
    pixels = HEIGHT * WIDTH
    for row in rows:  # the header's size a row records is its file's, payload aside
        bitstream = reencoded[row["image"], row["lambda_key"], row["profile"]][0]
        assert row["header_bytes"] == len(bitstream) - 4 * parse(bitstream)[0].payload_words
    payload = [dict(row, bpp=row["bpp"] - 8 * row["header_bytes"] / pixels) for row in rows]
    expected = {
        "file": (reference_bd_rate(curve(rows, "fast"), curve(rows, "lof3")),
                 statistics.fmean(reference_bd_rate(curve(rows, "fast", n),
                                                    curve(rows, "lof3", n)) for n in names)),
        "payload": (reference_bd_rate(curve(payload, "fast"), curve(payload, "lof3")),
                    statistics.fmean(reference_bd_rate(curve(payload, "fast", n),
                                                       curve(payload, "lof3", n))
                                     for n in names))}
    assert abs(expected["payload"][0] - expected["file"][0]) > 0.5  # (a 32×48 header is big)
    images = table["results"].parent / "images"
    script = _load("header_share")
    old_rows = tmp_path / "old.jsonl"  # as written before rows carried the header's size
    old_rows.write_text("".join(json.dumps({k: v for k, v in row.items() if k != "header_bytes"})
                                + "\n" for row in rows))
    for source in (table["results"], old_rows):
        result = script.main([str(source), "--images", str(images),
                              "--model", str(default_model_path())])
        for kind, (mean_curve, per_image) in expected.items():
            measured = result["profiles"]["lof3"][kind]
            assert abs(measured["mean_curve"] - mean_curve) < 0.1, (source, kind)
            assert abs(measured["mean_of_images"] - per_image) < 0.1, (source, kind)
        share = statistics.fmean(8 * r["header_bytes"] / pixels / r["bpp"] for r in rows)
        assert result["header_share_percent"] == pytest.approx(100 * share)
    assert "| lof3 |" in capsys.readouterr().out
    wrong = tmp_path / "wrong.jsonl"  # a fast rate the model does not give: refused
    wrong.write_text("".join(json.dumps(dict(r, bpp=r["bpp"] + 0.01) if r["profile"] == "fast"
                                        else r) + "\n"
                             for r in map(json.loads, old_rows.read_text().splitlines())))
    with pytest.raises(SystemExit, match="another model"):
        script.main([str(wrong), "--images", str(images), "--model", str(default_model_path())])
