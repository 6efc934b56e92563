"""LOF: keep-best, cancellation, greedy search, bit-exact bitstreams, rate control."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import smooth_image
from mspviewer.codec import build_random_model, decode_bytes, tiny_config
from mspviewer.codec.api import (EncodedImage, encode_image, encode_image_steps,
                                 encode_to_bpp, image_to_tensor)
from mspviewer.codec.lof import LOFProgress, LOFResult, optimise_latent
from mspviewer.codec.rd_cost import rd_cost
from mspviewer.codec.profiles import Profile

LAM = 0.0067
# Large steps so that a random tiny model's latent crosses quantisation bins in a few steps.
GRADIENT = Profile("test-gradient", "few large Adam steps", lof_iterations=4,
                   learning_rate=0.4, lr_schedule="constant")
GREEDY = Profile("test-greedy", "greedy only", lof_iterations=0, greedy=True,
                 greedy_budget=10, greedy_batch_fraction=0.5)
BOTH = Profile("test-both", "Adam then greedy", lof_iterations=3, learning_rate=0.4,
               greedy=True, greedy_budget=6, greedy_batch_fraction=0.5)


pytestmark = pytest.mark.usefixtures("one_thread")


def run(generator):
    """(records, return value) of a step generator."""
    records = []
    while True:
        try:
            records.append(next(generator))
        except StopIteration as stop:
            return records, stop.value


@pytest.fixture(scope="module")
def wide_model():
    """A tiny random model whose gains are spread out, so that its rate changes with λ
    over a useful range (a random model with the initial gains codes almost nothing)."""
    model = build_random_model(tiny_config(), seed=1)
    with torch.no_grad():
        model.gains.log_gain.mul_(3).add_(3)
    return model


def check_keep_best(model, x, result: LOFResult, records: list[LOFProgress]):
    assert result.J_best <= result.J_initial
    assert result.J_best == pytest.approx(min([result.J_initial] + [r.J for r in records]),
                                          rel=1e-6)
    assert [r.iteration for r in records] == list(range(1, len(records) + 1))
    assert all(a.best_J >= b.best_J for a, b in zip(records, records[1:]))
    assert result.history == records and result.iterations == len(records)
    # The returned latent really has the reported cost.
    assert rd_cost(model, x, result.y_best, LAM)["J"] == pytest.approx(result.J_best, rel=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lof_never_worse_than_the_plain_encoder(wide_model, seed):
    x = image_to_tensor(smooth_image(32, 48, seed=seed))
    records, result = run(optimise_latent(wide_model, x, LAM, GRADIENT))
    assert len(records) == GRADIENT.lof_iterations
    assert all(r.phase == "gradient" and r.temperature == 0 for r in records)
    check_keep_best(wide_model, x, result, records)
    assert not result.cancelled and result.stop_reason == "completed"
    assert result.J_best < result.J_initial  # and on these images it does improve


def test_both_rate_gradients_share_the_loss_value_and_keep_best(wide_model):
    from mspviewer.codec.rd_cost import RDCost

    x = image_to_tensor(smooth_image(32, 48, seed=10))
    losses = []
    for mode in ("continuous", "rounded"):
        cost = RDCost(wide_model, x, LAM, rate_gradient=mode)
        y = cost.initial_latent().requires_grad_(True)
        evaluation = cost.evaluate(y, differentiable=True)
        losses.append(evaluation.loss.item())
        (grad,) = torch.autograd.grad(evaluation.loss, [y])
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
        records, result = run(optimise_latent(wide_model, x, LAM,
                                              GRADIENT.replace(rate_gradient=mode)))
        check_keep_best(wide_model, x, result, records)
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def test_keep_best_returns_the_plain_latent_when_every_step_is_worse(wide_model):
    x = image_to_tensor(smooth_image(32, 48, seed=9))
    wild = GRADIENT.replace(learning_rate=200.0)  # every step overshoots
    records, result = run(optimise_latent(wide_model, x, LAM, wild))
    assert all(r.J > result.J_initial for r in records)
    assert result.J_best == result.J_initial and result.best_iteration == 0
    y0 = wide_model.analyse(x, wide_model.rate_point(LAM))
    assert torch.equal(result.y_best, y0)
    encoded = encode_image(wide_model, smooth_image(32, 48, seed=9), LAM, wild)
    assert encoded.bitstream == encode_image(wide_model, smooth_image(32, 48, seed=9),
                                             LAM).bitstream


def test_a_step_that_makes_the_latent_non_finite_stops_lof_with_the_best_latent(wide_model):
    """A huge (finite) step overflows the latent to inf/NaN: LOF stops as "diverged" with
    the best finite latent instead of failing in the σ table lookup of the next iteration."""
    x = image_to_tensor(smooth_image(32, 48, seed=9))
    huge = GRADIENT.replace(learning_rate=1e30, lof_iterations=6)
    records, result = run(optimise_latent(wide_model, x, LAM, huge))
    assert result.stop_reason == "diverged" and len(records) < 6
    assert not np.isfinite(records[-1].J)
    assert result.J_best == result.J_initial and torch.isfinite(result.y_best).all()
    encoded = encode_image(wide_model, smooth_image(32, 48, seed=9), LAM, huge)
    assert encoded.bitstream == encode_image(wide_model, smooth_image(32, 48, seed=9),
                                             LAM).bitstream


def test_backoff_recovers_from_a_step_that_is_too_long(wide_model):
    """With every step overshooting, plain Adam never beats y₀ (test above); backoff halves
    the step after ``patience`` iterations without a new best, restarting from the best
    latent, until steps improve J again."""
    x = image_to_tensor(smooth_image(32, 48, seed=9))
    wild = GRADIENT.replace(learning_rate=200.0, lof_iterations=60)
    records, plain = run(optimise_latent(wide_model, x, LAM, wild))
    assert plain.best_iteration == 0
    backoff = wild.replace(lr_backoff_patience=2)
    records, result = run(optimise_latent(wide_model, x, LAM, backoff))
    check_keep_best(wide_model, x, result, records)
    assert result.J_best < result.J_initial and result.best_iteration > 2
    # The first `patience` iterations are the same steps as without backoff.
    assert [r.J for r in records[:2]] == pytest.approx([r.J for r in plain.history[:2]])
    # Each record carries the step it used: halved after every `patience` records without
    # a new best, never changed by the constant schedule otherwise.
    assert [r.learning_rate for r in records[:5]] == [200.0, 200.0, 100.0, 100.0, 50.0]
    assert all(r.learning_rate < 200.0 for r in records[result.best_iteration - 1:])


def test_the_step_at_each_lambda_follows_the_profile(wide_model):
    x = image_to_tensor(smooth_image(32, 48, seed=9))
    scaled = GRADIENT.replace(lof_iterations=2, learning_rate=0.1, lr_lambda_exponent=1.0,
                              lr_reference_lambda=LAM)
    for lam in (LAM, 4 * LAM):
        records, _ = run(optimise_latent(wide_model, x, lam, scaled))
        assert [r.learning_rate for r in records] == pytest.approx([0.1 * lam / LAM] * 2,
                                                                   rel=1e-6)


def test_initial_cost_is_the_hard_forward_estimate(tiny_model):
    x = image_to_tensor(smooth_image(32, 48))
    with torch.no_grad():
        out = tiny_model(x, LAM, quantization="hard")
        bits = -torch.log2(out["likelihoods"]).sum().item()
        mse = (out["x_hat"].clamp(0, 1).mul(255).round() / 255 - x).square().mean().item()
    cost = rd_cost(tiny_model, x, tiny_model.analyse(x, tiny_model.rate_point(LAM)), LAM)
    assert cost["bpp"] == pytest.approx(bits / (32 * 48), rel=1e-5)
    assert cost["J"] == pytest.approx(bits / (32 * 48) + LAM * 255 ** 2 * mse, rel=1e-5)


def test_cancel_after_k_iterations_returns_the_best_of_those(wide_model):
    x = image_to_tensor(smooth_image(32, 48, seed=3))
    k = 3
    seen = []
    steps = optimise_latent(wide_model, x, LAM, GRADIENT.replace(lof_iterations=50),
                            cancel=lambda: len(seen) >= k)
    while True:
        try:
            seen.append(next(steps))
        except StopIteration as stop:
            result = stop.value
            break
    assert len(seen) == k and result.iterations == k
    assert result.cancelled and result.stop_reason == "cancelled"
    check_keep_best(wide_model, x, result, seen)


def test_model_parameters_are_restored(wide_model):
    flags = [p.requires_grad for p in wide_model.parameters()]
    x = image_to_tensor(smooth_image(32, 32))
    steps = optimise_latent(wide_model, x, LAM, GRADIENT)
    next(steps)
    assert not any(p.requires_grad for p in wide_model.parameters())
    steps.close()  # abandoned half-way, e.g. a GUI worker that stops listening
    assert [p.requires_grad for p in wide_model.parameters()] == flags
    assert all(p.grad is None for p in wide_model.parameters())


def test_a_progress_callback_that_raises_gives_the_parameters_back_at_once(wide_model):
    flags = [p.requires_grad for p in wide_model.parameters()]

    def listener_gone(record):
        raise RuntimeError("the window closed")

    with pytest.raises(RuntimeError, match="window closed") as caught:
        encode_image(wide_model, smooth_image(32, 32), LAM, GRADIENT, progress=listener_gone)
    # not only once the generator is collected: a held traceback (here `caught`, in the GUI
    # an error report) keeps its frame, and so the generator, alive
    assert caught.traceback and [p.requires_grad for p in wide_model.parameters()] == flags


def test_greedy_reports_moves_and_never_increases_j(wide_model):
    x = image_to_tensor(smooth_image(32, 48, seed=4))
    records, result = run(optimise_latent(wide_model, x, LAM, GREEDY))
    assert records and all(r.phase == "greedy" for r in records)
    assert len(records) <= GREEDY.greedy_budget
    assert records[-1].accepted + records[-1].refused == len(records)
    assert result.accepted == records[-1].accepted and result.refused == records[-1].refused
    previous_best, previous_accepted = result.J_initial, 0
    for record in records:
        if record.accepted > previous_accepted:  # an accepted batch lowers J
            assert record.J < previous_best and record.best_J == record.J
        else:  # a refused batch leaves the kept latent unchanged
            assert record.J >= previous_best and record.best_J == previous_best
        previous_best, previous_accepted = record.best_J, record.accepted
    check_keep_best(wide_model, x, result, records)
    assert result.accepted > 0  # on this image some moves pay off


def test_lof_bitstreams_decode_bit_exactly(wide_model):
    pixels = smooth_image(40, 56, seed=5)
    records, encoded = run(encode_image_steps(wide_model, pixels, LAM, BOTH))
    assert isinstance(encoded, EncodedImage) and encoded.profile == "test-both"
    assert [r.phase for r in records] == ["gradient"] * 3 + ["greedy"] * (len(records) - 3)
    decoded = decode_bytes(wide_model, encoded.bitstream)
    assert np.array_equal(decoded.pixels, encoded.reconstruction)
    assert np.array_equal(decoded.analysis.symbols, encoded.analysis.symbols)
    # The coded latent is the one LOF chose: the decoder sees LOF's bits and PSNR.
    lof = encoded.lof
    assert encoded.analysis.estimated_bpp == pytest.approx(lof.bpp_best, rel=1e-4, abs=1e-6)
    from mspviewer.metrics import psnr_rgb
    assert psnr_rgb(pixels, decoded.pixels) == pytest.approx(lof.psnr_best, abs=1e-6)


def test_annealed_rounding_draws_each_bin_with_its_probability():
    from mspviewer.codec.rd_cost import annealed_rounding

    generator = torch.Generator().manual_seed(3)
    n = 40_000
    for fraction, temperature in ((0.3, 0.5), (0.45, 0.2), (0.8, 0.5), (0.3, 0.05)):
        residual = torch.full((n,), -2.0 + fraction)
        sample = annealed_rounding(residual, temperature, generator)
        assert bool(((sample >= -2.0) & (sample <= -1.0)).all())  # between the two bins
        # Gumbel-softmax picks its argmax with the category's probability; SGA's
        # probabilities, computed here independently: ∝ exp(−atanh(distance) / τ)
        down, up = math.exp(-math.atanh(fraction) / temperature), \
            math.exp(-math.atanh(1 - fraction) / temperature)
        expected = up / (down + up)
        observed = float((sample > -1.5).float().mean())
        assert abs(observed - expected) < 4 * math.sqrt(expected * (1 - expected) / n) + 1e-4
    # cold: the nearest bin; and the relaxation passes a gradient
    residual = torch.tensor([-1.7, -0.2, 0.3, 0.6, 2.4], requires_grad=True)
    cold = annealed_rounding(residual, 1e-3, generator)
    assert torch.allclose(cold, torch.round(residual.detach()), atol=1e-4)
    warm = annealed_rounding(residual, 0.5, generator)
    (grad,) = torch.autograd.grad(warm.sum(), [residual])
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_annealed_lof_keeps_best_repeats_and_decodes_bit_exactly(wide_model):
    annealed = GRADIENT.replace(name="test-annealed", rounding="annealed", lof_iterations=6,
                                temperature_start=0.5, temperature_end=0.1)
    x = image_to_tensor(smooth_image(32, 48, seed=2))
    records, result = run(optimise_latent(wide_model, x, LAM, annealed))
    assert len(records) == 6 and all(r.phase == "gradient" for r in records)
    assert [r.temperature for r in records] == pytest.approx(
        [annealed.temperature_at(step) for step in range(6)])
    assert records[0].temperature == 0.5 and records[-1].temperature == pytest.approx(0.1)
    check_keep_best(wide_model, x, result, records)  # J of every record is exact
    assert result.J_best < result.J_initial
    pixels = smooth_image(40, 56, seed=5)
    first = encode_image(wide_model, pixels, LAM, annealed)
    assert first.bitstream == encode_image(wide_model, pixels, LAM, annealed).bitstream
    assert first.lof.J_best < first.lof.J_initial
    decoded = decode_bytes(wide_model, first.bitstream)
    assert np.array_equal(decoded.pixels, first.reconstruction)


def test_an_annealed_evaluation_is_only_the_surrogate(wide_model):
    from mspviewer.codec.rd_cost import RDCost

    cost = RDCost(wide_model, image_to_tensor(smooth_image(16, 16)), LAM)
    y = cost.initial_latent().requires_grad_(True)
    relaxed = cost.evaluate(y, differentiable=True, temperature=0.3)
    assert relaxed.stats is None and torch.isfinite(relaxed.loss)
    (grad,) = torch.autograd.grad(relaxed.loss, [y])
    assert grad.abs().sum() > 0
    with pytest.raises(ValueError, match="surrogate"):
        cost.evaluate(y, temperature=0.3)


def test_fast_profile_is_the_plain_encoder(tiny_model):
    pixels = smooth_image(24, 40)
    records, encoded = run(encode_image_steps(tiny_model, pixels, LAM, "fast"))
    assert records == [] and encoded.lof is None
    plain = tiny_model.compress(image_to_tensor(pixels), LAM)
    assert encoded.bitstream == plain.bitstream == encode_image(tiny_model, pixels, LAM).bitstream


def test_cancelled_encode_still_writes_a_valid_bitstream(wide_model):
    pixels = smooth_image(32, 32, seed=6)
    calls = []
    encoded = encode_image(wide_model, pixels, LAM, GRADIENT.replace(lof_iterations=40),
                           cancel=lambda: len(calls) >= 2, progress=calls.append)
    assert encoded.lof.cancelled and len(calls) == 2
    assert np.array_equal(decode_bytes(wide_model, encoded.bitstream).pixels,
                          encoded.reconstruction)


def test_time_budget_stops_lof(wide_model):
    x = image_to_tensor(smooth_image(32, 32))
    profile = GRADIENT.replace(lof_iterations=1000, time_budget_s=1e-4)
    records, result = run(optimise_latent(wide_model, x, LAM, profile))
    assert result.stop_reason == "time_budget" and not result.cancelled
    assert len(records) < 1000 and result.J_best <= result.J_initial


def test_target_bpp_bisection_lands_near_the_target(wide_model):
    pixels = smooth_image(64, 96, seed=7)
    encoded = encode_to_bpp(wide_model, pixels, 0.3, "fast", tolerance=0.1)
    assert abs(encoded.analysis.bpp / 0.3 - 1) <= 0.1, encoded.rate_search
    low, high = wide_model.config.lambda_range
    # reachable in the trained range: no probe goes past it
    assert all(low * (1 - 1e-6) <= probe["lambda"] <= high * (1 + 1e-6)  # float32 λ
               for probe in encoded.rate_search)
    assert len(encoded.rate_search) <= 16
    # Outside the model's usable range: the nearest end of that range, not an error.
    tiny_target = encode_to_bpp(wide_model, pixels, 1e-4, "fast")
    usable_low = wide_model.config.usable_lambda_range[0]
    assert tiny_target.analysis.lam == pytest.approx(usable_low, rel=1e-6)


def test_target_bpp_past_the_trained_range_uses_an_extrapolated_lambda(wide_model):
    pixels = smooth_image(64, 96, seed=7)
    low, high = wide_model.config.lambda_range
    top = encode_image(wide_model, pixels, high).analysis.bpp
    past = encode_image(wide_model, pixels, wide_model.config.usable_lambda_range[1])
    assert past.analysis.bpp > 1.2 * top  # the margin reaches rates the trained range does not
    target = math.sqrt(top * past.analysis.bpp)
    encoded = encode_to_bpp(wide_model, pixels, target, "fast", tolerance=0.03)
    assert abs(encoded.analysis.bpp / target - 1) <= 0.03, encoded.rate_search
    assert high < encoded.analysis.lam and wide_model.rate_point(encoded.analysis.lam).extrapolated
    assert np.array_equal(decode_bytes(wide_model, encoded.bitstream).pixels,
                          encoded.reconstruction)


def test_the_lambda_search_leaves_the_trained_range_only_for_a_target_beyond_it():
    from mspviewer.codec.api import _search_lambda_in_ranges

    trained, usable = (0.0018, 0.0483), (0.0009, 0.0966)

    def search(target):
        calls = []

        def bpp_of(lam):
            calls.append(lam)
            return 0.5 * (lam / 0.01) ** 0.8

        return _search_lambda_in_ranges(bpp_of, target, trained, usable, 0.001, 0.03), calls

    for target, lam_range in ((0.37, trained), (2.2, (trained[1], usable[1])),
                              (0.08, (usable[0], trained[0]))):
        lam, calls = search(target)
        assert abs(0.5 * (lam / 0.01) ** 0.8 / target - 1) <= 0.001
        assert lam_range[0] * 0.999 <= lam <= lam_range[1] * 1.001
        assert all(usable[0] * 0.999 <= v <= usable[1] * 1.001 for v in calls)
        if lam_range == trained:
            assert all(trained[0] * 0.999 <= v <= trained[1] * 1.001 for v in calls)
    lam, _ = search(50.0)  # beyond the usable range: its end
    assert lam == pytest.approx(usable[1], rel=1e-6)
    top = 0.5 * (trained[1] / 0.01) ** 0.8
    lam, calls = search(1.02 * top)  # the trained top is within the caller's 3 %: kept
    assert lam == pytest.approx(trained[1], rel=1e-6)
    assert all(v <= trained[1] * 1.001 for v in calls)


def test_an_lof_profile_runs_at_the_trained_top_before_going_past_it(wide_model):
    pixels = smooth_image(64, 96, seed=7)
    profile = GRADIENT.replace(lof_iterations=2)
    low, high = wide_model.config.lambda_range
    top = encode_image(wide_model, pixels, high, profile).analysis.bpp
    past = encode_image(wide_model, pixels, wide_model.config.usable_lambda_range[1],
                        profile).analysis.bpp
    assert past > 1.2 * top
    target = math.sqrt(top * past)
    encoded = encode_to_bpp(wide_model, pixels, target, profile, tolerance=0.05)
    assert abs(encoded.analysis.bpp / target - 1) <= 0.05, encoded.rate_search
    assert wide_model.rate_point(encoded.analysis.lam).extrapolated
    runs = [p["lambda"] for p in encoded.rate_search if p["profile"] == profile.name]
    first_past = next(i for i, lam in enumerate(runs) if lam > high * (1 + 1e-6))
    assert any(lam == pytest.approx(high, rel=1e-6) for lam in runs[:first_past])
    assert np.array_equal(decode_bytes(wide_model, encoded.bitstream).pixels,
                          encoded.reconstruction)


def test_target_bpp_with_an_lof_profile(wide_model):
    pixels = smooth_image(64, 96, seed=8)
    profile = GRADIENT.replace(lof_iterations=2)
    encoded = encode_to_bpp(wide_model, pixels, 0.3, profile, tolerance=0.15)
    assert encoded.lof is not None and encoded.profile == profile.name
    assert abs(encoded.analysis.bpp / 0.3 - 1) <= 0.15, encoded.rate_search
    assert np.array_equal(decode_bytes(wide_model, encoded.bitstream).pixels,
                          encoded.reconstruction)


def test_lambda_search_converges_on_a_monotone_curve():
    from mspviewer.codec.api import _search_lambda

    calls = []

    def bpp_of(lam):
        calls.append(lam)
        return 0.5 * (lam / 0.01) ** 0.8

    lam = _search_lambda(bpp_of, 0.37, 0.0018, 0.0483, 0.001, 14)
    assert abs(bpp_of(lam) / 0.37 - 1) <= 0.001
    assert len(calls) <= 2 + 14 + 1 and all(0.0018 <= v <= 0.0483 for v in calls)


def test_cancel_stops_the_rate_search_with_the_closest_probe(tiny_model):
    from mspviewer.codec.api import encode_to_bpp

    pixels = smooth_image(32, 48, seed=4)
    encoded = encode_to_bpp(tiny_model, pixels, 0.5, "balanced", cancel=lambda: True)
    assert len(encoded.rate_search) == 1  # stopped after the first probe
    assert encoded.profile == "plain" and encoded.lof is None
    assert encoded.search_cancelled  # what the caller tells the user
    assert not encode_to_bpp(tiny_model, pixels, 0.5, "fast").search_cancelled


def test_cancel_after_the_last_lof_iteration_ends_the_rate_search_cleanly(wide_model):
    """Cancel pressed during a profile probe's last iteration: LOF reports it completed, and
    the λ correction that follows must stop the search, not leak its private exception."""
    pixels = smooth_image(64, 96, seed=8)
    profile = GRADIENT.replace(lof_iterations=2)
    pressed = []

    def progress(record):
        if record.iteration == 2:
            pressed.append(True)

    encoded = encode_to_bpp(wide_model, pixels, 0.3, profile, tolerance=0.01,
                            cancel=lambda: bool(pressed), progress=progress)
    assert encoded.lof is not None and not encoded.lof.cancelled
    assert encoded.search_cancelled  # LOF completed, but the search was stopped
    assert [p["profile"] for p in encoded.rate_search].count(profile.name) == 1
    assert np.array_equal(decode_bytes(wide_model, encoded.bitstream).pixels,
                          encoded.reconstruction)


class FakeClock:
    """LOF's clock advancing a fixed tick per reading: the pace of an iteration (its number
    of readings, fixed by the code) is then the same on every machine."""

    def __init__(self, tick: float = 1.0):
        self.now = 0.0
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_a_time_budget_stops_at_the_time_with_the_best_so_far(wide_model, monkeypatch):
    """The budget cuts the run, whose schedule keeps its full length (the temperatures and
    steps of the full schedule, not a compressed one); the gradient phase may use all of
    it, and the result is the best of the iterations run."""
    from mspviewer.codec import lof

    profile = BOTH.replace(name="test-budget", lof_iterations=200, learning_rate=0.2,
                           lr_schedule="cosine", rounding="annealed", greedy_budget=400)
    x = image_to_tensor(smooth_image(32, 48, seed=2))
    clock = FakeClock()
    monkeypatch.setattr(lof, "_clock", clock)
    budget = 60.0
    records, result = run(optimise_latent(wide_model, x, LAM,
                                          profile.replace(time_budget_s=budget)))
    assert result.stop_reason == "time_budget" and 5 < len(records) < 60
    # no iteration starts after the budget is spent (the last may end just past it)
    assert records[-2].elapsed_s < budget <= clock.now < budget + 5
    assert all(r.phase == "gradient" and r.total == 600 for r in records)
    assert [r.temperature for r in records] == [
        profile.temperature_at(step) for step in range(len(records))]  # not compressed
    assert records[-1].learning_rate > 0.5 * records[0].learning_rate
    check_keep_best(wide_model, x, result, records)


def test_lof_stops_part_way_along_a_longer_schedule(wide_model):
    """A profile with schedule_iterations runs the first lof_iterations steps of that
    schedule: cosine step and temperature as the formulas give them, not compressed."""
    profile = Profile("test-cut", "first 4 of a 10-step schedule", lof_iterations=4,
                      schedule_iterations=10, learning_rate=0.3, lr_schedule="cosine",
                      rounding="annealed", temperature_start=0.5, temperature_end=0.05)
    x = image_to_tensor(smooth_image(32, 48, seed=2))
    records, result = run(optimise_latent(wide_model, x, LAM, profile))
    assert len(records) == 4 and result.stop_reason == "completed"
    assert [r.learning_rate for r in records] == pytest.approx(
        [0.3 * 0.5 * (1 + math.cos(math.pi * step / 10)) for step in range(4)])
    assert [r.temperature for r in records] == pytest.approx(
        [0.5 * 0.1 ** (step / 9) for step in range(4)])
    check_keep_best(wide_model, x, result, records)
