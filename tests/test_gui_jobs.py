"""The viewer's Qt-free pieces: task generators and the analysis views the panels draw."""

from __future__ import annotations

import io
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from conftest import smooth_image
from mspviewer.baselines import get_codec
from mspviewer.codec import encode_image
from mspviewer.codec.api import run_steps
from mspviewer.codec.profiles import Profile
from mspviewer.gui import classic_jobs, jobs, latent_data, outcomes


@pytest.fixture(scope="module")
def encoded(tiny_model):
    pixels = smooth_image(40, 72, seed=4)
    return pixels, encode_image(tiny_model, pixels, 0.01)


def test_scale_layers_cover_every_position_once(encoded):
    _, result = encoded
    analysis = result.analysis
    values = latent_data.channel_values(analysis, "bits", None)
    np.testing.assert_allclose(values, analysis.bits.sum(axis=0), rtol=1e-5)
    layers = latent_data.scale_layers(analysis, values)
    assert [layer.scale for layer in layers] == sorted(
        {p.scale for p in analysis.passes}, reverse=True)
    assert layers[0].coarsest
    assert sum(int(np.isfinite(layer.data).sum()) for layer in layers) == values.size
    total = sum(float(np.nansum(layer.data)) for layer in layers)
    assert total == pytest.approx(analysis.estimated_bits, rel=1e-5)
    for layer in layers:
        assert layer.num_elements == int(analysis.scale_mask(layer.scale).sum())


def test_channel_reductions(encoded):
    _, result = encoded
    a = result.analysis
    np.testing.assert_allclose(latent_data.channel_values(a, "y_hat", None),
                               (a.y_hat.astype(np.float64) ** 2).mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(latent_data.channel_values(a, "sigma", 2), a.sigma[2])
    surprise = latent_data.full_quantity(a, "surprise")
    np.testing.assert_allclose(surprise, np.abs(a.symbols) / a.sigma, rtol=1e-5)
    with pytest.raises(ValueError):
        latent_data.channel_values(a, "mu", a.y_hat.shape[0])


def test_channel_reductions_stay_in_float32():
    """The reductions run on the GUI thread when the latent panel redraws: no float64
    copies of the (M, h, w) arrays (measured with tracemalloc, which numpy reports to)."""
    import tracemalloc
    from types import SimpleNamespace

    rng = np.random.default_rng(4)
    shape = (48, 40, 60)
    analysis = SimpleNamespace(
        y_hat=rng.integers(-6, 7, shape).astype(np.float32),
        mu=rng.normal(0, 2, shape).astype(np.float32),
        sigma=rng.uniform(0.1, 3, shape).astype(np.float32),
        bits=rng.uniform(0, 8, shape).astype(np.float32), lam=0.01, model_id="m",
        image_size=(640, 960))
    plain = SimpleNamespace(**vars(analysis))  # the coding LOF started from
    plain.y_hat = analysis.y_hat + rng.integers(-1, 2, shape).astype(np.float32)
    plain.bits = rng.uniform(0, 8, shape).astype(np.float32)
    size = analysis.y_hat.nbytes
    for name in latent_data.QUANTITIES:
        tracemalloc.start()
        try:
            values = latent_data.channel_values(analysis, name, None, plain)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert values.dtype == np.float32 and values.shape == shape[1:]
        # surprise and the LOF differences need one (M, h, w) float32 array of their own
        fresh = name == "surprise" or name in latent_data.LOF_CHANGE
        assert peak <= (2.2 if fresh else 1.2) * size, (name, peak / size)
        full = {key: getattr(analysis, key).astype(np.float64) for key in ("y_hat", "mu",
                                                                           "sigma", "bits")}
        expected = {"y_hat": (full["y_hat"] ** 2).mean(axis=0),
                    "mu": (full["mu"] ** 2).mean(axis=0),
                    "sigma": full["sigma"].mean(axis=0),
                    "bits": full["bits"].sum(axis=0),
                    "surprise": (np.abs(full["y_hat"] - full["mu"]) / full["sigma"]).mean(axis=0),
                    "lof_shift": np.abs(full["y_hat"] - plain.y_hat).mean(axis=0),
                    "lof_bits": (full["bits"] - plain.bits).sum(axis=0),
                    }[name]
        # (Δbits sums gains and losses: near-zero sums need an absolute tolerance)
        np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-4, err_msg=name)

def test_bit_allocation_sums_to_the_payload(encoded):
    from mspviewer.codec import bitstream

    _, result = encoded
    a = result.analysis
    # independent of the records' pass statistics: each pass's bytes from the stream's header
    # (its section words), each pass's model bits from the dense per-element arrays
    header, _ = bitstream.parse(result.bitstream)
    assert len(header.section_words) == len(a.passes)
    stream_bytes = [4 * words for words in header.section_words]
    model_bytes = [float(a.bits[a.pass_index == p.index].sum(dtype=np.float64)) / 8
                   for p in a.passes]
    keys = {"pass": lambda p: (p.index,), "scale": lambda p: (-p.scale,),
            "step": lambda p: (p.step != "coarsest", p.step), "group": lambda p: (p.group,)}
    names = {"pass": lambda p: f"s{p.scale} {p.step} g{p.group}",
             "scale": lambda p: f"scale {p.scale}", "step": lambda p: f"step {p.step}",
             "group": lambda p: f"group {p.group} (ch {p.channel_start}–{p.channel_stop - 1})"}
    for by in latent_data.GROUPINGS:
        allocation = latent_data.bit_allocation(a, by)
        assert int(allocation.actual_bytes.sum()) == a.payload_bytes
        assert float(allocation.estimated_bytes.sum()) == pytest.approx(a.estimated_bits / 8)
        expected: dict = {}  # key -> [label, stream bytes, model bytes]
        for p, actual, estimated in zip(a.passes, stream_bytes, model_bytes):
            entry = expected.setdefault(keys[by](p), [names[by](p), 0, 0.0])
            entry[1] += actual
            entry[2] += estimated
        ordered = [expected[k] for k in (sorted(expected) if by != "pass" else expected)]
        assert allocation.labels == [label for label, _, _ in ordered], by
        shorts = {"pass": lambda p: str(p.index), "scale": lambda p: f"s{p.scale}",
                  "step": lambda p: str(p.step), "group": lambda p: f"g{p.group}"}
        short_of = {names[by](p): shorts[by](p) for p in a.passes}
        assert allocation.short_labels == [short_of[label] for label, _, _ in ordered], by
        assert allocation.actual_bytes.tolist() == [b for _, b, _ in ordered], by
        np.testing.assert_allclose(allocation.estimated_bytes, [e for _, _, e in ordered],
                                   rtol=1e-5, err_msg=by)
        assert allocation.header_bytes == len(result.bitstream) - a.payload_bytes
    assert latent_data.bit_allocation(a, "step").labels[0] == "step coarsest"
    # several scales, steps and groups, each with bytes of its own
    for by in ("scale", "step", "group"):
        assert len(latent_data.bit_allocation(a, by).labels) >= 2, by


def test_the_bits_map_divides_by_the_image_pixels_of_each_block():
    """Edge blocks count only their pixels inside the image; blocks wholly in the padding
    are left out of the map, and their share of the bits is stated."""
    from types import SimpleNamespace

    rng = np.random.default_rng(3)
    bits = rng.uniform(0, 2, (4, 8, 8))  # 4 channels on the 128×128 padded grid
    analysis = SimpleNamespace(bits=bits, image_size=(40, 50), padded_size=(128, 128),
                               y_hat=np.zeros((4, 8, 8)))
    shown = latent_data.bits_per_pixel_map(analysis)
    assert shown.shape == (3, 4)  # 40 rows: 3 blocks (the last 8 rows); 50 columns: 4
    inside = np.zeros((128, 128), bool)
    inside[:40, :50] = True
    for row in range(3):
        for col in range(4):
            pixels = inside[16 * row:16 * row + 16, 16 * col:16 * col + 16].sum()
            assert shown[row, col] == pytest.approx(bits[:, row, col].sum() / pixels, rel=1e-6)
    per_pixel = np.kron(shown, np.ones((16, 16)))[:40, :50]  # the map over the image
    assert per_pixel.mean() == pytest.approx(bits[:, :3, :4].sum() / (40 * 50), rel=1e-6)
    assert latent_data.padding_bits_share(analysis) == pytest.approx(
        1 - bits[:, :3, :4].sum() / bits.sum())


def test_encode_task_measures_the_decoded_stream(tiny_model, encoded):
    pixels, plain = encoded
    records = []
    outcome = run_steps(
        jobs.encode_task(tiny_model, pixels, outcomes.EncodeRequest(lam=0.01), jobs.CancelToken()),
        records.append)
    assert outcome.bitstream == plain.bitstream  # the same core encode
    assert outcome.decode_matches is True and outcome.decode_seconds is not None
    assert outcome.point.num_bytes == len(plain.bitstream)
    assert [r.stage for r in records] == ["encode", "decode", "metrics"]
    np.testing.assert_allclose(outcome.difference, jobs.difference_map(pixels, outcome.decoded))
    doc = outcome.metrics_dict()
    assert doc["file_bytes"] == len(plain.bitstream) and doc["psnr_rgb"] == outcome.point.psnr_rgb
    per_channel = [c["bits"] for c in doc["channels"]["per_channel"]]
    np.testing.assert_allclose(per_channel, plain.analysis.bits.sum(axis=(1, 2)), rtol=1e-12)
    # the figures shown, against independent implementations
    assert outcome.point.psnr_rgb == pytest.approx(
        peak_signal_noise_ratio(pixels, outcome.decoded, data_range=255), abs=1e-9)
    assert outcome.point.bpp == pytest.approx(8 * len(plain.bitstream) / (40 * 72))


def test_encode_task_target_bpp_uses_the_core_rate_control(tiny_model, encoded):
    from mspviewer.codec.api import DEFAULT_BPP_TOLERANCE

    pixels, _ = encoded
    low, high = tiny_model.config.lambda_range
    num_pixels = pixels.shape[0] * pixels.shape[1]
    reachable = 8 * len(encode_image(tiny_model, pixels, (low * high) ** 0.5).bitstream) \
        / num_pixels
    for target in (round(reachable, 3), 0.01):  # inside the model's range, far below it
        outcome = run_steps(jobs.encode_task(
            tiny_model, pixels, outcomes.EncodeRequest(target_bpp=target, verify_decode=False),
            jobs.CancelToken()))
        assert outcome.target_bpp == target
        error = 8 * len(outcome.bitstream) / num_pixels / target - 1  # the file written
        if target == 0.01:  # the bottom of the usable range, extrapolated and marked so
            usable_low = tiny_model.config.usable_lambda_range[0]
            assert error > 1 and math.isclose(outcome.lam, usable_low, rel_tol=1e-6)
            assert any(f"is the closest this model got to {target:g} bpp" in note
                       for note in outcome.notes)
            assert outcome.lam_extrapolated
        else:
            assert abs(error) <= DEFAULT_BPP_TOLERANCE and not outcome.lam_extrapolated
            assert any(f"found for {target:g} bpp" in note for note in outcome.notes)


def test_a_target_bpp_encode_cancelled_in_its_search_says_so(tiny_model, encoded):
    """Cancel during the λ search of an LOF profile under a time limit: the plain encode
    kept is reported as cancelled, says it is not the profile's, and carries no LOF time
    limit (which would label its RD point as an LOF one)."""
    pixels, _ = encoded
    token = jobs.CancelToken()
    token.cancel("user")
    outcome = run_steps(jobs.encode_task(
        tiny_model, pixels, outcomes.EncodeRequest(profile="quick", target_bpp=0.5,
                                                   time_budget_s=5, verify_decode=False),
        token))
    assert outcome.cancelled and outcome.profile == "plain"
    assert outcome.time_budget_s is None and outcome.reference is None
    assert "cancelled during the λ search: an encode without LOF, not quick" in outcome.notes
    # where the search stopped is not a limit of the model, and is not called one
    assert any(note.startswith("λ search cancelled after ") and "so far" in note
               for note in outcome.notes)
    assert not any("this model got" in note for note in outcome.notes)
    finished = run_steps(jobs.encode_task(  # the same, not cancelled: LOF ran, under 5 s
        tiny_model, pixels, outcomes.EncodeRequest(profile="quick", target_bpp=0.5,
                                                   time_budget_s=5, verify_decode=False),
        jobs.CancelToken()))
    assert not finished.cancelled and finished.profile == "quick"
    assert finished.time_budget_s == 5


def test_rd_sweep_reports_unavailable_codecs_and_goes_on(monkeypatch):
    pixels = smooth_image(24, 32)
    records = []
    curves = run_steps(classic_jobs.rd_sweep_task(["no-such-codec", "jpeg-420"], pixels,
                                                  jobs.CancelToken()), records.append)
    problems = [r for r in records if isinstance(r, outcomes.CodecProblem)]
    points = [r for r in records if isinstance(r, outcomes.CurvePoint)]
    assert problems and problems[0].codec == "no-such-codec"
    assert len(points) == len(curves["jpeg-420"].points) > 3


def test_same_bpp_task(tiny_model, encoded):
    pixels, plain = encoded
    outcome = run_steps(classic_jobs.same_bpp_task("jpeg-444", pixels, 1.0,
                                                   jobs.CancelToken()))
    assert outcome.codec == "jpeg-444" and outcome.decoded.shape == pixels.shape
    # The largest JPEG at or below 1 bpp: the file fits, one quality step more does not.
    num_pixels = pixels.shape[0] * pixels.shape[1]
    assert outcome.below_target and 8 * len(outcome.data) / num_pixels <= 1.0
    assert outcome.point.bpp == pytest.approx(8 * len(outcome.data) / num_pixels)
    codec = get_codec("jpeg-444")
    assert 8 * len(codec.encode(pixels, outcome.quality + 1)) / num_pixels > 1.0
    with Image.open(io.BytesIO(outcome.data)) as jpeg:  # decoded by Pillow, independently
        assert np.array_equal(outcome.decoded, np.asarray(jpeg.convert("RGB")))
    assert outcome.point.psnr_rgb == pytest.approx(
        peak_signal_noise_ratio(pixels, outcome.decoded, data_range=255), abs=1e-9)
    # the difference pane's map comes computed, off the GUI thread
    expected = np.abs(pixels.astype(np.float64) - outcome.decoded).mean(axis=2)
    assert outcome.difference.dtype == np.float32 and outcome.difference.shape == pixels.shape[:2]
    np.testing.assert_allclose(outcome.difference, expected, atol=1e-4)
    assert outcome.difference.max() > 0


def test_same_bpp_task_stops_searching_when_cancelled(encoded, monkeypatch):
    """A superseded third-pane search must not run its remaining encodes (7–9 of them)."""
    pixels, _ = encoded
    real = get_codec("jpeg-444")
    token = jobs.CancelToken()
    encodes = []

    class Cancelling:  # the real codec; the second encode is when the user moves on
        name, label = real.name, real.label

        def quality_grid(self):
            return real.quality_grid()

        def encode(self, image, quality):
            encodes.append(quality)
            if len(encodes) == 2:
                token.cancel("superseded")
            return real.encode(image, quality)

        def decode(self, data):
            return real.decode(data)

    monkeypatch.setattr(classic_jobs, "_get_codec", lambda name: Cancelling())
    assert run_steps(classic_jobs.same_bpp_task("jpeg-444", pixels, 1.0, token)) is None
    assert len(encodes) == 2


def test_profiles_come_from_the_core():
    from mspviewer.codec.profiles import load_profiles

    names = [p.name for p in jobs.available_profiles()]
    assert names == list(load_profiles())
    assert jobs.profile_info("balanced").iterations == load_profiles()["balanced"].max_iterations


def test_gui_data_modules_import_without_qt():
    script = textwrap.dedent("""
        import sys, importlib.abc

        class BlockQt(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {"PySide6", "shiboken6", "pyqtgraph"}:
                    raise ImportError(name)
                return None

        sys.meta_path.insert(0, BlockQt())
        import mspviewer.gui.jobs, mspviewer.gui.latent_data, mspviewer.gui.outcomes
        import mspviewer.gui.classic_jobs, mspviewer.gui.export_jobs, mspviewer.gui.replay_jobs
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_requests_default_to_the_cores_default_profile():
    """outcomes repeats the core's default profile name (importing the codec loads torch)."""
    from mspviewer.codec.profiles import DEFAULT_PROFILE

    assert outcomes.DEFAULT_PROFILE == DEFAULT_PROFILE == outcomes.EncodeRequest().profile


def test_a_stronger_cancel_reason_overrides_the_user_one():
    token = jobs.CancelToken()
    token.cancel("user")
    token.cancel("superseded")  # e.g. a new model was loaded after the user pressed Cancel
    assert token.reason == "superseded" and token()
    token.cancel("user")  # a weaker reason never downgrades it
    assert token.reason == "superseded"
    token.cancel("shutdown")
    assert token.reason == "shutdown"


class DeviceRecordingModel:
    """Stands in for the model where only its device matters (no CUDA needed)."""

    def __init__(self):
        self.device, self.moves = "cpu", []

    def to(self, device):
        self.moves.append(device)
        self.device = device


def test_the_model_moves_device_only_when_no_other_task_uses_it(monkeypatch):
    from mspviewer.codec import model as codec_model

    exact_settings = []  # the cuDNN settings of bit-exact coding, asked for on each CUDA move
    monkeypatch.setattr(codec_model, "use_exact_cuda_arithmetic",
                        lambda: exact_settings.append(True))
    model = DeviceRecordingModel()
    with jobs.model_lease(model, "cpu") as first:
        assert first.device == "cpu" and first.note is None
        with jobs.model_lease(model, "cuda:0") as second:  # the first task still runs
            assert second.device == "cpu" and model.moves == []
            assert "ran on cpu, not cuda:0" in second.note
        with jobs.model_lease(model) as wherever:
            assert wherever.device == "cpu" and wherever.note is None
    with jobs.model_lease(model, "cuda:0") as alone:  # nobody else: it moves
        assert alone.device == "cuda:0" and model.moves == ["cuda:0"] and alone.note is None
        assert exact_settings == [True]
    with pytest.raises(RuntimeError):
        with jobs.model_lease(model, "cuda:0"):
            raise RuntimeError("a task that fails still gives the model back")
    with jobs.model_lease(model, "cpu") as after_failure:
        assert after_failure.device == "cpu" and model.moves == ["cuda:0", "cpu"]
    assert exact_settings == [True]  # moving back to the CPU asks for nothing


def test_every_task_that_runs_the_model_holds_a_lease_while_it_does(tiny_model, encoded,
                                                                   monkeypatch):
    from mspviewer.codec import api, inspection
    from mspviewer.gui.replay_jobs import replay_job

    pixels, plain = encoded
    users_seen = []  # how many leases the model had whenever a network ran

    def watched(function):
        def call(*args, **kwargs):
            users_seen.append(jobs._model_users.get(tiny_model, 0))
            return function(*args, **kwargs)
        return call

    for name in ("encode_image_steps", "encode_image", "encode_batch_steps", "decode_bytes"):
        monkeypatch.setattr(api, name, watched(getattr(api, name)))
    monkeypatch.setattr(inspection, "replay_latent", watched(inspection.replay_latent))
    run_steps(jobs.encode_task(tiny_model, pixels, outcomes.EncodeRequest(lam=0.01),
                               jobs.CancelToken()))
    run_steps(jobs.decode_task(tiny_model, plain.bitstream, pixels, "cpu", jobs.CancelToken()))
    run_steps(jobs.lambda_ladder_task(tiny_model, pixels, (0.01,), "cpu", jobs.CancelToken()))
    run_steps(jobs.lambda_ladder_task(tiny_model, pixels, (0.01, 0.02), "cpu",
                                      jobs.CancelToken(), LADDER_LOF, together=True))
    assert run_steps(replay_job(tiny_model, plain.analysis, pixels, jobs.CancelToken())) > 0
    assert len(users_seen) >= 6 and set(users_seen) == {1}, users_seen
    assert jobs._model_users.get(tiny_model, 0) == 0  # all given back


def test_cuda_names_the_current_gpu():
    assert jobs.same_device("cuda", "cuda:0") and jobs.same_device("cpu", "cpu")
    assert not jobs.same_device("cuda:1", "cuda:0") and not jobs.same_device("cpu", "cuda")


# --- the λ ladder's LOF encodes as one batch -------------------------------------------------
LADDER_LOF = Profile("test-ladder", "Adam then greedy", lof_iterations=3, learning_rate=0.4,
                     greedy=True, greedy_budget=6, greedy_batch_fraction=0.5)
LADDER_LAMBDAS = (0.0035, 0.013, 0.0483)


def _ladder(model, pixels, token=None, **options):
    records = []
    points = run_steps(jobs.lambda_ladder_task(model, pixels, LADDER_LAMBDAS, "cpu",
                                               token or jobs.CancelToken(), LADDER_LOF,
                                               "test-ladder", **options), records.append)
    return points, records


def test_ladder_together_gives_the_points_of_one_at_a_time(tiny_model):
    pixels = smooth_image(32, 48, seed=6)
    alone, alone_records = _ladder(tiny_model, pixels, together=False)
    together, records = _ladder(tiny_model, pixels, together=True)
    # each λ's encode runs as it would alone (tests/test_lof_batch.py): the same file size and
    # reconstruction, so the same point
    assert [p.quality for p in together] == list(LADDER_LAMBDAS)
    assert [(p.bpp, p.psnr_rgb) for p in together] == [(p.bpp, p.psnr_rgb) for p in alone]
    assert [r.point for r in records if isinstance(r, outcomes.CurvePoint)] == together
    # progress while the batch runs: LOF iterations of the batch, as fractions that grow
    fractions = [r.fraction for r in records
                 if isinstance(r, jobs.StageProgress) and "together" in r.message]
    assert len(fractions) > LADDER_LOF.lof_iterations
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] <= 1
    assert not any("together" in getattr(r, "message", "") for r in alone_records)


def test_ladder_together_cancelled_gives_no_point(tiny_model):
    pixels = smooth_image(32, 48, seed=6)
    token = jobs.CancelToken()
    records = []

    def cancel_on_first_iteration(record):
        records.append(record)
        if isinstance(record, jobs.StageProgress) and "iteration" in record.message:
            token.cancel("user")

    steps = jobs.lambda_ladder_task(tiny_model, pixels, LADDER_LAMBDAS, "cpu", token,
                                    LADDER_LOF, "test-ladder", together=True)
    assert run_steps(steps, cancel_on_first_iteration) == []
    assert not any(isinstance(r, outcomes.CurvePoint) for r in records)
    assert sum("iteration" in getattr(r, "message", "") for r in records) == 1


def test_ladder_under_a_time_budget_runs_one_at_a_time(tiny_model, monkeypatch):
    """Each λ gets the budget the curve's label names, as a single encode does: a batch
    would share one budget among them, or (given their sum) run each past it on a GPU."""
    from mspviewer.codec import api

    batches = []
    real = api.encode_batch_steps

    def recording(model, images, lams, profile, cancel=None):
        batches.append(profile.time_budget_s)
        return real(model, images, lams, profile, cancel=cancel)

    monkeypatch.setattr(api, "encode_batch_steps", recording)
    pixels = smooth_image(32, 48, seed=6)
    budgeted = run_steps(jobs.lambda_ladder_task(
        tiny_model, pixels, LADDER_LAMBDAS, "cpu", jobs.CancelToken(),
        LADDER_LOF.with_time_budget(30.0), together=True))
    assert len(budgeted) == 3 and batches == []
    run_steps(jobs.lambda_ladder_task(tiny_model, pixels, LADDER_LAMBDAS, "cpu",
                                      jobs.CancelToken(), LADDER_LOF, together=True))
    assert batches == [None]


def test_ladder_runs_together_by_default_where_the_model_is_on_a_gpu(tiny_model,
                                                                     monkeypatch):
    import contextlib

    import torch

    from mspviewer.codec import api

    batches = []
    real = api.encode_batch_steps

    def recording(model, images, lams, profile, cancel=None):
        batches.append(len(images))
        return real(model, images, lams, profile, cancel=cancel)

    @contextlib.contextmanager
    def on_a_gpu(model, requested=None):  # the lease says where the task runs the model
        yield jobs.ModelLease(torch.device("cuda"))

    monkeypatch.setattr(api, "encode_batch_steps", recording)
    monkeypatch.setattr(api, "resolve_device", lambda name: torch.device("cpu"))
    monkeypatch.setattr(jobs, "model_lease", on_a_gpu)
    pixels = smooth_image(32, 48, seed=6)
    points = run_steps(jobs.lambda_ladder_task(tiny_model, pixels, LADDER_LAMBDAS, "cuda",
                                               jobs.CancelToken(), LADDER_LOF))
    assert batches == [3] and len(points) == 3
    run_steps(jobs.lambda_ladder_task(tiny_model, pixels, LADDER_LAMBDAS, "cuda",
                                      jobs.CancelToken(), "fast"))
    assert batches == [3]  # no LOF: nothing to batch


def test_ladder_falls_back_to_one_at_a_time_when_the_batch_runs_out_of_gpu_memory(
        tiny_model, monkeypatch):
    """The shortfall strikes inside LOF, after it has set the model's flags: the model gets
    them back, and the λ then run one at a time to the points they give alone."""
    import torch

    from mspviewer.codec import rd_cost

    pixels = smooth_image(32, 48, seed=6)
    # on a CPU the ladder runs one λ at a time unless told
    alone, _ = _ladder(tiny_model, pixels)
    flags = [p.requires_grad for p in tiny_model.parameters()]
    real_evaluate = rd_cost.RDCost.evaluate
    batch_passes = []

    def short_of_memory_in_the_batch(cost, y, *args, **kwargs):
        if y.shape[0] > 1:  # a batched pass; a λ alone has one latent
            batch_passes.append(y.shape[0])
            if len(batch_passes) == 3:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9 GiB")
        return real_evaluate(cost, y, *args, **kwargs)

    monkeypatch.setattr(rd_cost.RDCost, "evaluate", short_of_memory_in_the_batch)
    points, records = _ladder(tiny_model, pixels, together=True)
    assert len(batch_passes) == 3
    assert [p.requires_grad for p in tiny_model.parameters()] == flags
    assert [(p.bpp, p.psnr_rgb) for p in points] == [(p.bpp, p.psnr_rgb) for p in alone]
    notes = [r.message for r in records if isinstance(r, jobs.StageProgress)
             and "do not fit" in r.message]
    assert notes == ["the 3 λ together do not fit in GPU memory (CUDA out of memory. Tried "
                     "to allocate 9 GiB); running them one at a time"]


def test_only_gpu_memory_errors_are_taken_for_a_shortfall():
    import torch

    assert jobs._is_gpu_memory_error(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert jobs._is_gpu_memory_error(RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"))
    assert not jobs._is_gpu_memory_error(RuntimeError("expected all tensors on one device"))
    assert not jobs._is_gpu_memory_error(ValueError("out of memory"))
