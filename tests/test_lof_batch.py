"""LOF over several encodes at once (``optimise_latents``): each encode of a batch runs the
iterations it would run alone, and stops and keeps its best on its own."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import smooth_image
# the random model with spread-out gains, and the step collector, of test_lof.py
from test_lof import FakeClock, run, wide_model  # noqa: F401 (a fixture)
from mspviewer.codec.api import image_to_tensor
from mspviewer.codec.lof import optimise_latent, optimise_latents
from mspviewer.codec.rd_cost import RDCost, rd_cost
from mspviewer.codec.profiles import Profile

pytestmark = pytest.mark.usefixtures("one_thread")

LAMS = [0.0035, 0.0067, 0.013]
BOTH = Profile("test-both", "Adam then greedy", lof_iterations=3, learning_rate=0.4,
               greedy=True, greedy_budget=8, greedy_batch_fraction=0.5)
ANNEALED = Profile("test-annealed", "annealed Adam", lof_iterations=4, learning_rate=0.2,
                   rounding="annealed", temperature_start=0.5, temperature_end=0.05)
# The step grows with λ (exponent 4): about 1 at λ = 0.0035, 14 at 0.0067, 200 at 0.013, so
# that the encodes of a batch back off at different iterations, or not at all.
BACKOFF = Profile("test-backoff", "steps too long at high λ, halved", lof_iterations=8,
                  learning_rate=200.0, lr_schedule="constant", lr_backoff_patience=2,
                  lr_lambda_exponent=4.0, lr_reference_lambda=0.013)


def images(count: int, size: int | None = None) -> torch.Tensor:
    height, width = (size, size) if size else (32, 48)
    return torch.cat([image_to_tensor(smooth_image(height, width, seed=seed))
                      for seed in range(count)])


@pytest.mark.parametrize("profile", [BOTH, ANNEALED, BACKOFF], ids=lambda p: p.name)
def test_each_encode_of_a_batch_runs_as_it_would_alone(wide_model, profile):
    x = images(3)
    rounds, results = run(optimise_latents(wide_model, x, LAMS, profile))
    assert len(results) == 3
    for row, (lam, result) in enumerate(zip(LAMS, results)):
        _, alone = run(optimise_latent(wide_model, x[row:row + 1], lam, profile))
        assert result.iterations == alone.iterations and result.stop_reason == alone.stop_reason
        # the same iterates, up to the last bits of the batched arithmetic (a J of ~100
        # carries float32 sums of thousands of bits)
        assert [r.J for r in result.history] == pytest.approx([r.J for r in alone.history],
                                                              rel=1e-5)
        assert [(r.phase, r.accepted, r.refused, r.moved, r.learning_rate, r.temperature)
                for r in result.history] == \
            [(r.phase, r.accepted, r.refused, r.moved, r.learning_rate, r.temperature)
             for r in alone.history]
        assert result.best_iteration == alone.best_iteration
        assert result.J_initial == pytest.approx(alone.J_initial, rel=1e-6)
        assert result.J_best == pytest.approx(alone.J_best, rel=1e-6)
        # the latents differ in the last bits (Adam scales them up: here steps of up to
        # 200), their codes not at all
        size = x.shape[-2:]
        assert wide_model.compress_latent(result.y_best, lam, size).bitstream == \
            wide_model.compress_latent(alone.y_best, lam, size).bitstream
        # the returned latent has the reported cost, measured alone
        assert rd_cost(wide_model, x[row:row + 1], result.y_best, lam)["J"] == \
            pytest.approx(result.J_best, rel=1e-6)
    # every round holds (row, record) of each encode still running, in batch order
    for row, result in enumerate(results):
        assert [record for records in rounds for r, record in records if r == row] == \
            result.history
    assert all([r for r, _ in records] == sorted({r for r, _ in records}) for records in rounds)
    if profile is BACKOFF:  # the encodes halved their steps at different iterations
        steps = [[r.learning_rate for r in result.history] for result in results]
        assert len({tuple(rates) for rates in steps}) == 3
        assert any(rates[-1] < rates[0] for rates in steps)


def test_greedy_searches_of_a_batch_end_on_their_own(wide_model):
    """A search that converges leaves the rounds; the others go on to their budgets: round r
    holds a record of every encode that ran at least r iterations."""
    x = images(3, size=16)  # small latents: searches that converge within the budget
    generous = BOTH.replace(greedy_budget=300)
    rounds, results = run(optimise_latents(wide_model, x, LAMS, generous))
    lengths = [result.iterations for result in results]
    assert len(set(lengths)) == 3 and max(lengths) < 300  # converged, at different rounds
    assert [len(records) for records in rounds] == \
        [sum(length >= r for length in lengths) for r in range(1, max(lengths) + 1)]
    assert sum(result.refused for result in results) > 0  # refused trials, halved batches
    for row, (lam, result) in enumerate(zip(LAMS, results)):
        _, alone = run(optimise_latent(wide_model, x[row:row + 1], lam, generous))
        assert result.stop_reason == alone.stop_reason == "converged"
        assert (result.iterations, result.accepted, result.refused, result.best_iteration) == \
            (alone.iterations, alone.accepted, alone.refused, alone.best_iteration)
        assert result.J_best == pytest.approx(alone.J_best, rel=1e-6)
        assert result.J_best <= result.J_initial


def test_one_lambda_for_a_batch_uses_the_single_encode_arithmetic(wide_model):
    x = images(2)
    _, together = run(optimise_latents(wide_model, x, 0.0067, BOTH))
    for row, result in enumerate(together):
        _, alone = run(optimise_latent(wide_model, x[row:row + 1], 0.0067, BOTH))
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
    from mspviewer.codec.model import as_float32

    ordinary = lof._learning_rate
    monkeypatch.setattr(lof, "_learning_rate", lambda profile, lam, step: (
        1e30 if lam == as_float32(0.013) else ordinary(profile, lam, step)))
    x = images(2)
    steps = BOTH.replace(greedy=False, lof_iterations=5)
    _, (low, high) = run(optimise_latents(wide_model, x, [0.0035, 0.013], steps))
    assert high.stop_reason == "diverged" and high.iterations < 5
    assert torch.isfinite(high.y_best).all()
    assert high.J_best == pytest.approx(high.J_initial, rel=1e-6)
    _, alone = run(optimise_latent(wide_model, x[:1], 0.0035, steps))
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


def test_a_time_budget_stops_the_whole_batch(wide_model, monkeypatch):
    """The budget is the batch's: every encode stops at the same round, with its best."""
    import mspviewer.codec.lof as lof

    monkeypatch.setattr(lof, "_clock", FakeClock())
    budgeted = ANNEALED.replace(lof_iterations=200, time_budget_s=40.0)
    rounds, results = run(optimise_latents(wide_model, images(3), LAMS, budgeted))
    assert 3 < len(rounds) < 40
    for result in results:
        assert result.stop_reason == "time_budget"
        assert result.iterations == len(rounds)
        assert result.J_best == pytest.approx(
            min([result.J_initial] + [r.J for r in result.history]), rel=1e-6)


def test_batch_encodes_write_the_files_of_single_encodes(wide_model):
    """encode_batch_steps on CPU: each image's bitstream and reconstruction are those of
    encode_image alone; its time is its share of the batch's."""
    from mspviewer.codec.api import encode_batch_steps, encode_image, run_steps
    from mspviewer.codec import decode_bytes

    pictures = [smooth_image(32, 48, seed=seed) for seed in range(3)]
    for profile in (BOTH, "fast"):
        together = run_steps(encode_batch_steps(wide_model, pictures, LAMS, profile))
        for pixels, lam, encoded in zip(pictures, LAMS, together):
            alone = encode_image(wide_model, pixels, lam, profile)
            assert encoded.bitstream == alone.bitstream
            assert np.array_equal(encoded.reconstruction, alone.reconstruction)
            assert np.array_equal(decode_bytes(wide_model, encoded.bitstream).pixels,
                                  encoded.reconstruction)
            assert encoded.encode_seconds > 0
            assert (encoded.lof is None) == (profile == "fast")
    with pytest.raises(ValueError, match="one size"):
        run_steps(encode_batch_steps(wide_model, [pictures[0], smooth_image(16, 16)],
                                     LAMS[:2], BOTH))
    with pytest.raises(ValueError, match="3 images and 2 λ values"):
        run_steps(encode_batch_steps(wide_model, pictures, LAMS[:2], BOTH))


def test_lambdas_may_be_any_sequence_or_one_number(wide_model):
    x = images(3)
    by_list = RDCost(wide_model, x, LAMS).costs(RDCost(wide_model, x, LAMS).initial_latent())
    as_array = RDCost(wide_model, x, np.array(LAMS))
    assert as_array.lams == RDCost(wide_model, x, LAMS).lams
    assert as_array.costs(as_array.initial_latent()) == by_list
    one = RDCost(wide_model, x, np.float32(0.0067))
    assert one.lams == [np.float32(0.0067)] * 3 and not isinstance(one.rate_points, list)
