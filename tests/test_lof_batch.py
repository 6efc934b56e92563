"""LOF over several encodes at once (``optimise_latents``): each encode of a batch runs the
iterations it would run alone, and stops and keeps its best on its own."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import smooth_image
from mspviewer.codec import build_random_model, tiny_config
from mspviewer.codec.api import image_to_tensor
from mspviewer.codec.lof import RDCost, optimise_latent, optimise_latents, rd_cost
from mspviewer.codec.profiles import Profile

pytestmark = pytest.mark.usefixtures("one_thread")

LAMS = [0.0035, 0.0067, 0.013]
BOTH = Profile("test-both", "Adam then greedy", lof_iterations=3, learning_rate=0.4,
               greedy=True, greedy_budget=8, greedy_batch_fraction=0.5)
ANNEALED = Profile("test-annealed", "annealed Adam", lof_iterations=4, learning_rate=0.2,
                   rounding="annealed", temperature_start=0.5, temperature_end=0.05)
BACKOFF = Profile("test-backoff", "steps far too long, halved", lof_iterations=8,
                  learning_rate=200.0, lr_schedule="constant", lr_backoff_patience=2)


@pytest.fixture(scope="module")
def wide_model():
    """The tiny random model of test_lof.py, gains spread out so that LOF moves its latent."""
    model = build_random_model(tiny_config(), seed=1)
    with torch.no_grad():
        model.gains.log_gain.mul_(3).add_(3)
    return model


def drive(generator):
    """(records per round, return value) of a step generator."""
    rounds = []
    while True:
        try:
            rounds.append(next(generator))
        except StopIteration as stop:
            return rounds, stop.value


def images(count: int, size: int | None = None) -> torch.Tensor:
    height, width = (size, size) if size else (32, 48)
    return torch.cat([image_to_tensor(smooth_image(height, width, seed=seed))
                      for seed in range(count)])


@pytest.mark.parametrize("profile", [BOTH, ANNEALED, BACKOFF], ids=lambda p: p.name)
def test_each_encode_of_a_batch_runs_as_it_would_alone(wide_model, profile):
    x = images(3)
    rounds, results = drive(optimise_latents(wide_model, x, LAMS, profile))
    assert len(results) == 3
    for row, (lam, result) in enumerate(zip(LAMS, results)):
        _, alone = drive(optimise_latent(wide_model, x[row:row + 1], lam, profile))
        assert result.iterations == alone.iterations and result.stop_reason == alone.stop_reason
        assert [r.J for r in result.history] == pytest.approx([r.J for r in alone.history],
                                                              rel=1e-6)
        assert [(r.phase, r.accepted, r.refused, r.moved, r.learning_rate, r.temperature)
                for r in result.history] == \
            [(r.phase, r.accepted, r.refused, r.moved, r.learning_rate, r.temperature)
             for r in alone.history]
        assert result.best_iteration == alone.best_iteration
        assert result.J_initial == pytest.approx(alone.J_initial, rel=1e-6)
        assert result.J_best == pytest.approx(alone.J_best, rel=1e-6)
        assert torch.allclose(result.y_best, alone.y_best, atol=1e-5)
        # the returned latent has the reported cost, measured alone
        assert rd_cost(wide_model, x[row:row + 1], result.y_best, lam)["J"] == \
            pytest.approx(result.J_best, rel=1e-6)
        if profile is BACKOFF:  # the batch did halve steps, not only run plain ones
            assert min(r.learning_rate for r in result.history) < BACKOFF.learning_rate
    # every round holds one record of each encode still running, in batch order
    assert sum(len(records) for records in rounds) == sum(r.iterations for r in results)
    assert all(len(records) <= 3 for records in rounds)


def test_greedy_searches_of_a_batch_end_on_their_own(wide_model):
    """A search that converges leaves the rounds; the others go on to their budgets: round r
    holds a record of every encode that ran at least r iterations."""
    x = images(3, size=16)  # small latents: searches that converge within the budget
    generous = BOTH.replace(greedy_budget=300)
    rounds, results = drive(optimise_latents(wide_model, x, LAMS, generous))
    lengths = [result.iterations for result in results]
    assert len(set(lengths)) == 3 and max(lengths) < 300  # converged, at different rounds
    assert [len(records) for records in rounds] == \
        [sum(length >= r for length in lengths) for r in range(1, max(lengths) + 1)]
    for result in results:
        assert result.stop_reason == "converged"
        assert result.J_best <= result.J_initial


def test_one_lambda_for_a_batch_uses_the_single_encode_arithmetic(wide_model):
    x = images(2)
    _, together = drive(optimise_latents(wide_model, x, 0.0067, BOTH))
    for row, result in enumerate(together):
        _, alone = drive(optimise_latent(wide_model, x[row:row + 1], 0.0067, BOTH))
        assert result.J_best == pytest.approx(alone.J_best, rel=1e-6)
        assert result.iterations == alone.iterations


def test_cancelling_a_batch_stops_every_encode_with_its_best(wide_model):
    x = images(2)
    long = BOTH.replace(lof_iterations=20)
    rounds_seen = []

    def cancel():
        return len(rounds_seen) >= 2

    steps = optimise_latents(wide_model, x, LAMS[:2], long, cancel=cancel)
    while True:
        try:
            rounds_seen.append(next(steps))
        except StopIteration as stop:
            results = stop.value
            break
    assert len(rounds_seen) == 2
    for result in results:
        assert result.cancelled and result.stop_reason == "cancelled"
        assert result.iterations == 2
        assert result.J_best == pytest.approx(
            min([result.J_initial] + [r.J for r in result.history]), rel=1e-6)


def test_an_encode_that_diverges_stops_alone(wide_model, monkeypatch):
    """A step that overflows one encode's latent stops that encode with its best finite
    latent; the others of the batch go on exactly as they would alone. (The profile's λ
    scaling of the step spans at most a few hundred times over a ladder, so the overflowing
    step is given to λ = 0.013 alone here.)"""
    import mspviewer.codec.lof as lof

    ordinary = lof._learning_rate
    monkeypatch.setattr(lof, "_learning_rate", lambda profile, lam, step: (
        1e30 if lam == lof.as_float32(0.013) else ordinary(profile, lam, step)))
    x = images(2)
    steps = BOTH.replace(greedy=False, lof_iterations=5)
    _, (low, high) = drive(optimise_latents(wide_model, x, [0.0035, 0.013], steps))
    assert high.stop_reason == "diverged" and high.iterations < 5
    assert torch.isfinite(high.y_best).all()
    assert high.J_best == pytest.approx(high.J_initial, rel=1e-6)
    _, alone = drive(optimise_latent(wide_model, x[:1], 0.0035, steps))
    assert low.stop_reason == alone.stop_reason == "completed"
    assert low.iterations == alone.iterations == 5
    assert [r.J for r in low.history] == pytest.approx([r.J for r in alone.history], rel=1e-6)


def test_a_batch_cost_is_each_encode_cost(wide_model):
    x = images(3)
    cost = RDCost(wide_model, x, LAMS)
    y = cost.initial_latent()
    together = cost.costs(y)
    for row, lam in enumerate(LAMS):
        alone = rd_cost(wide_model, x[row:row + 1], y[row:row + 1], lam)
        assert together[row] == pytest.approx(alone, rel=1e-6)
    with pytest.raises(ValueError, match="cost per image"):
        cost.cost(y)
    with pytest.raises(ValueError, match="2 λ values for 3 images"):
        RDCost(wide_model, x, LAMS[:2])
    with pytest.raises(ValueError, match="one image"):
        next(optimise_latent(wide_model, x, 0.0067, BOTH))
    assert np.isfinite([c["J"] for c in together]).all()
