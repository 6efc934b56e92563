"""LOF: latent overfitting at encode time, with a greedy search in MSP decoding order.

The decoder never changes and no extra bits are sent: LOF only chooses a better latent for
*this* image. Starting from y₀ = g_a(x), it minimises the true RD cost of the quantised
latent,

    J(y) = bpp(round(y)) + λ·255²·MSE(x, decode(round(y))),

where "round" is MSP's quantisation ŷ = μ + round(y − μ), pass by pass in decoding order.

Gradient phase
    Adam on the continuous gained latent y, decoder (g_s) and probability model frozen.
    Straight-through rounding: the forward pass uses exactly the encoder's ŷ; gradients flow
    as if rounding were the identity (also through μ and σ of later passes, which depend on
    earlier ŷ). The rate term's value is −log₂ of the discretised Gaussian at the rounded
    residual round(y − μ) with the network's continuous σ; its gradient (profile field
    ``rate_gradient``) is, by default ("continuous"), that of the same bits at the
    unrounded residual y − μ, which pulls residuals inside a bin towards zero and lets the
    optimiser see the cost of leaving the zero bin; "rounded" passes the rounding straight
    through instead (zero rate gradient inside the zero bin). On Kodak crops with an early
    checkpoint, "continuous" gave the lower J in 8 of 8 settings (2 images, 2 λ, 2
    learning rates) and did not diverge at the higher learning rate. The distortion is the
    MSE of the clamped synthesis.

    Annealed rounding (profile ``rounding = "annealed"``): stochastic Gumbel annealing
    (Yang, Bamler and Mandt, "Improving Inference for Neural Image Compression", NeurIPS
    2020). The surrogate replaces each residual's rounding by a relaxed random choice
    between its two nearest bins, the nearer one more likely, with a temperature that
    falls over the iterations until the choice is practically the rounding itself. The
    context networks, the rate (the discretised Gaussian at the relaxed residual) and the
    synthesis all see the relaxed latent, so the gradient sees the effect of crossing
    into a neighbouring bin before the hard rounding would. The surrogate is then no
    longer the exact forward pass, so J is measured by a second, gradient-free pass.

    Time budget (profile ``time_budget_s``): LOF stops when the time is up and returns the
    best latent so far; the schedule keeps its full length. Fitting the schedule (cosine
    step, annealing) into the budget instead gave smaller J drops at equal time on
    training crops (docs/profiles.md, "Time budget"): the early, large, hot steps do most
    of the work.

    Learning-rate backoff (profile ``lr_backoff_patience``): the best step differs by image
    and λ and shrinks as the model trains (the surrogate's gradient then points less often
    where the exact J falls). After that many iterations without a new best J, LOF returns
    to the best latent, restarts Adam and halves the learning rate, so a step that is too
    long for this image costs a few iterations instead of the whole budget.

Exact cost, keep-best
    Every iteration measures J exactly as the codec will see it
    (:class:`~mspviewer.codec.rd_cost.RDCost`): bits with σ snapped to
    the coder's table and its smallest probability 2⁻²⁴ (what
    ``model(x, lam, quantization="hard")`` estimates), and the
    distortion of the decoder's actual 8-bit output (clamped and rounded), over the
    original (unpadded) pixels. The best latent seen is returned, so LOF never returns a
    J worse than y₀'s. The exact cost of an iterate is measured in the forward pass that
    also builds the graph for the next step, so it costs no extra network pass.

Greedy phase (profile ``greedy``)
    On the quantised latent of the best iterate, for each MSP pass in decoding order: take
    the pass's elements with the largest first-order gain |∂J/∂ŷ|, move each one
    quantisation bin against its gradient, measure J exactly and keep the batch only if J
    drops; a refused batch is halved and retried, an accepted one is kept and the next
    best elements are tried. Sweeps over all passes repeat until a sweep accepts nothing or
    the budget of exact evaluations is spent. The gradient is refreshed at the start of a
    pass after any accepted move.

:func:`optimise_latent` is a generator: it yields a :class:`LOFProgress` after every
iteration (gradient step or greedy trial), honours ``cancel()`` before every iteration,
and returns a :class:`LOFResult` (``StopIteration.value``). It runs on the model's device
(CPU or CUDA) with one host synchronisation per iteration: the progress record.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Generator, Iterator, Sequence

import torch

from mspviewer.codec.lattice import grid_geometry
from mspviewer.codec.model import MSPCodec
from mspviewer.codec.profiles import Profile, get_profile
from mspviewer.codec.rd_cost import RDCost

PHASE_GRADIENT = "gradient"
PHASE_GREEDY = "greedy"

#: LOF's clock (a module attribute, so that a test can run LOF against a fake one).
_clock = time.perf_counter


@dataclass(frozen=True)
class LOFProgress:
    """One iteration of LOF. ``J``, ``bpp``, ``psnr`` are exact (hard-quantised) values of
    the latent this iteration produced (for a greedy trial: of the trial, accepted or not).
    ``accepted``/``refused``: greedy batches kept/refused so far; ``moved``: latent
    elements changed by accepted greedy batches so far. ``total``: the most iterations the
    profile allows (for progress bars; LOF may stop earlier). ``learning_rate``: Adam's
    step for this iteration, after schedule and backoff (0 for greedy trials).
    ``temperature``: the annealing temperature of this iteration's surrogate (0 where the
    rounding is straight through, and for greedy trials)."""

    iteration: int
    phase: str
    J: float
    bpp: float
    psnr: float
    elapsed_s: float
    best_J: float
    accepted: int = 0
    refused: int = 0
    moved: int = 0
    total: int = 0
    learning_rate: float = 0.0
    temperature: float = 0.0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class LOFResult:
    y_best: torch.Tensor  # (1, M, h, w) gained latent to give to ``compress_latent``
    J_initial: float  # exact J of y₀ = g_a(x)
    J_best: float  # exact J of y_best (≤ J_initial)
    iterations: int  # iterations run (gradient steps + greedy trials)
    history: list[LOFProgress] = field(default_factory=list)
    cancelled: bool = False
    stop_reason: str = "completed"  # completed | cancelled | time_budget | converged | diverged
    bpp_initial: float = 0.0
    psnr_initial: float = 0.0
    bpp_best: float = 0.0
    psnr_best: float = 0.0
    best_iteration: int = 0  # 0: y₀ itself
    elapsed_s: float = 0.0
    accepted: int = 0
    refused: int = 0

    @property
    def improvement(self) -> float:
        """Relative drop of J, in percent (≥ 0)."""
        return 100.0 * (self.J_initial - self.J_best) / self.J_initial if self.J_initial else 0.0

    def summary(self) -> dict:
        """JSON-friendly, in the command line's names (PSNR as psnr_rgb_…)."""
        return {key: getattr(self, key) for key in (
            "J_initial", "J_best", "bpp_initial", "bpp_best", "iterations", "best_iteration",
            "cancelled", "stop_reason", "elapsed_s", "accepted", "refused")} | {
            "psnr_rgb_initial": self.psnr_initial, "psnr_rgb_best": self.psnr_best,
            "improvement_percent": self.improvement}


@contextmanager
def frozen(model: MSPCodec) -> Iterator[None]:
    """Parameters of ``model`` do not require gradients inside; restored afterwards."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _learning_rate(profile: Profile, lam: float, step: int) -> float:
    """Learning rate of gradient step ``step`` (0-based) at λ = ``lam``."""
    base = profile.learning_rate_at(lam)
    if profile.lr_schedule == "cosine" and profile.schedule_length > 1:
        return base * 0.5 * (1 + math.cos(math.pi * step / profile.schedule_length))
    return base


def optimise_latent(model: MSPCodec, x: torch.Tensor, lam: float, profile: Profile | str, *,
                    cancel: Callable[[], bool] | None = None
                    ) -> Generator[LOFProgress, None, LOFResult]:
    """Optimise the latent of image ``x`` (1, 3, H, W in [0, 1], on the model's device)
    for RD cost at ``lam`` under ``profile``. Yields a :class:`LOFProgress` per iteration,
    returns a :class:`LOFResult`. ``cancel()`` returning True stops before the next
    iteration; the best latent so far is returned."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"expected one image (1, 3, H, W), got {tuple(x.shape)}")
    steps = optimise_latents(model, x, [lam], profile, cancel=cancel)
    try:
        while True:
            try:
                records = next(steps)
            except StopIteration as stop:
                return stop.value[0]
            for _, progress in records:
                yield progress
    finally:
        steps.close()  # a closed caller gives the model back its flags at once


def optimise_latents(model: MSPCodec, x: torch.Tensor, lams: float | Sequence[float],
                     profile: Profile | str, *, cancel: Callable[[], bool] | None = None
                     ) -> Generator[list[tuple[int, LOFProgress]], None, list[LOFResult]]:
    """LOF for several encodes at once: images ``x`` (B, 3, H, W) of one size, each at its
    own λ (``lams``: one value for all, or B values). Each encode runs the iterations it
    would run alone (its own Adam, step, backoff, noise stream, greedy search and keep-best),
    but every iteration evaluates all of them in one batched pass. That is for throughput
    on a GPU, where a pass over one image is mostly the launch of thousands of small kernels
    (a 768×512 iteration took 0.2 s on an H200, docs/profiles.md): the batch launches the
    same kernels once for all its encodes.

    "As alone" holds up to the last bits of the batched arithmetic: on CPU the runs tried
    matched their single runs (``tests/test_lof_batch.py``); on a GPU, whose convolution
    algorithms may depend on the batch size, a decision taken at a near tie (keep-best,
    backoff, a greedy trial) can go the other way and that encode's run then parts from its
    single run. ``cancel()`` and the profile's time budget are the batch's: they stop every
    encode, so under a time budget each encode gets fewer iterations than alone.

    Yields, per round, (row, record) for each encode that ran an iteration in it; returns a
    :class:`LOFResult` per encode."""
    profile = get_profile(profile)
    run = _Run(profile, cancel, _clock())
    with frozen(model):
        cost = RDCost(model, x.to(model.device), lams, profile.rate_gradient)
        y0 = cost.initial_latent()
        items = [_Item(profile, run, _Best(j, bpp, psnr, y0[i:i + 1], 0))
                 for i, (j, bpp, psnr) in enumerate(cost.measures(cost.evaluate(y0).stats))]
        if profile.lof_iterations > 0:
            yield from _gradient_phase(cost, y0, profile, run, items)
        if profile.greedy and profile.greedy_budget > 0 and run.running(items):
            yield from _greedy_phase(cost, profile, run, items)
        _confirm_bests(cost, items)
    return [item.result(run) for item in items]


def _confirm_bests(cost: RDCost, items: list[_Item]) -> None:
    """Re-measure each moved best latent outside autograd, one encode at a time as compress
    will see it (a batched pass need not round the same way), and fall back to g_a's latent
    should it measure better."""
    for row, item in enumerate(items):
        moved = item.best.iteration != 0
        alone = cost.select([row])
        if cost.batch > 1:  # g_a's latent too, so that both are measured alike
            (initial,) = alone.measures(alone.evaluate(item.initial.y).stats)
            item.initial = _Best(*initial, item.initial.y, 0)
            if not moved:
                item.best = item.initial
        if moved:
            ((j, bpp, psnr),) = alone.measures(alone.evaluate(item.best.y).stats)
            item.best = _Best(j, bpp, psnr, item.best.y, item.best.iteration) \
                if j <= item.initial.J else item.initial


@dataclass
class _Best:
    J: float
    bpp: float
    psnr: float
    y: torch.Tensor  # (1, M, h, w)
    iteration: int


class _Run:
    """What the encodes of one call share: the clock, cancellation and the time budget."""

    def __init__(self, profile: Profile, cancel, start: float):
        self.profile = profile
        self.cancel = cancel
        self.start = start

    def elapsed(self) -> float:
        return _clock() - self.start

    def running(self, items: list[_Item]) -> bool:
        """Checked before every iteration: stops every encode when cancelled or out of
        time; True while any encode still runs."""
        if any(item.stop_reason is None for item in items):
            reason = None
            if self.cancel is not None and self.cancel():
                reason = "cancelled"
            elif self.profile.time_budget_s is not None and \
                    self.elapsed() >= self.profile.time_budget_s:
                reason = "time_budget"
            for item in items:
                item.stop_reason = item.stop_reason or reason
        return any(item.stop_reason is None for item in items)


class _Item:
    """One encode: its iteration counter, stopping reason, keep-best and records."""

    def __init__(self, profile: Profile, run: _Run, initial: _Best):
        self.profile = profile
        self.run = run
        self.initial = initial
        self.best = initial
        self.iteration = 0
        self.history: list[LOFProgress] = []
        self.stop_reason: str | None = None
        self.accepted = self.refused = self.moved = 0

    @property
    def active(self) -> bool:
        return self.stop_reason is None

    def record(self, measured: tuple[float, float, float], y: torch.Tensor, phase: str,
               learning_rate: float = 0.0, temperature: float = 0.0) -> LOFProgress:
        self.iteration += 1
        j, bpp, psnr = measured
        if j < self.best.J:
            self.best = _Best(j, bpp, psnr, y.detach().clone(), self.iteration)
        progress = LOFProgress(
            iteration=self.iteration, phase=phase, J=j, bpp=bpp, psnr=psnr,
            elapsed_s=self.run.elapsed(), best_J=self.best.J,
            accepted=self.accepted, refused=self.refused, moved=self.moved,
            total=self.profile.max_iterations, learning_rate=learning_rate,
            temperature=temperature)
        self.history.append(progress)
        return progress

    def result(self, run: _Run) -> LOFResult:
        initial, best = self.initial, self.best
        return LOFResult(
            y_best=best.y.detach(), J_initial=initial.J, J_best=best.J,
            iterations=self.iteration, history=self.history,
            cancelled=self.stop_reason == "cancelled",
            stop_reason=self.stop_reason or "completed", bpp_initial=initial.bpp,
            psnr_initial=initial.psnr, bpp_best=best.bpp, psnr_best=best.psnr,
            best_iteration=best.iteration, elapsed_s=run.elapsed(), accepted=self.accepted,
            refused=self.refused)


def _gradient_phase(cost: RDCost, y0: torch.Tensor, profile: Profile, run: _Run,
                    items: list[_Item]
                    ) -> Generator[list[tuple[int, LOFProgress]], None, None]:
    annealed = profile.rounding == "annealed"
    # A leaf and an Adam per encode: steps, backoff and restarts are each encode's own.
    latents = [y0[row:row + 1].clone().requires_grad_(True) for row in range(cost.batch)]
    optimisers = [torch.optim.Adam([y], lr=profile.learning_rate_at(lam))
                  for y, lam in zip(latents, cost.lams)]

    def joined() -> torch.Tensor:
        return latents[0] if len(latents) == 1 else torch.cat(latents)

    # Straight through, the exact J of an iterate comes from the forward pass that also
    # builds the graph of the next step; annealed, the surrogate is a pass of its own.
    evaluation = None if annealed else cost.evaluate(joined(), differentiable=True)
    lr_scales = [1.0] * cost.batch
    since_best = [0] * cost.batch  # iterations since each encode's last new best J
    for step in range(profile.lof_iterations):
        if not run.running(items):
            return
        restarted = False
        for row, item in enumerate(items):
            if item.active and profile.lr_backoff_patience and \
                    since_best[row] >= profile.lr_backoff_patience:
                # J stopped improving: for this image and λ the step is too long (the
                # straight-through surrogate keeps falling while the exact J rises). Go
                # back to the best latent and continue with half the step and fresh Adam
                # moments.
                lr_scales[row] *= 0.5
                since_best[row] = 0
                with torch.no_grad():
                    latents[row].copy_(item.best.y)
                optimisers[row] = torch.optim.Adam([latents[row]])
                restarted = True
        if restarted and not annealed:
            evaluation = cost.evaluate(joined(), differentiable=True)
        learning_rates = []
        for row, optimiser in enumerate(optimisers):
            learning_rate = _learning_rate(profile, cost.lams[row], step) * lr_scales[row]
            for group in optimiser.param_groups:
                group["lr"] = learning_rate
            learning_rates.append(learning_rate)
        temperature = profile.temperature_at(step) if annealed else 0.0
        if annealed:
            evaluation = cost.evaluate(joined(), differentiable=True, temperature=temperature)
        for optimiser in optimisers:
            optimiser.zero_grad(set_to_none=True)
        evaluation.loss.backward()
        for item, optimiser in zip(items, optimisers):
            if item.active:  # a stopped encode's latent stays where keep-best left it
                optimiser.step()
        last = step == profile.lof_iterations - 1
        evaluation = cost.evaluate(joined(), differentiable=not (last or annealed))
        records = []
        diverged = False
        for row, measured in enumerate(cost.measures(evaluation.stats)):
            item = items[row]
            if not item.active:
                continue
            progress = item.record(measured, latents[row], PHASE_GRADIENT,
                                   learning_rates[row], temperature)
            since_best[row] = 0 if item.best.iteration == progress.iteration \
                else since_best[row] + 1
            if not math.isfinite(progress.J):
                # A step far too long for this model (a profile's extreme learning rate) left
                # the latent non-finite; no later step can recover, and keep-best already
                # holds the last finite latent. (J is on the host for the record anyway: no
                # extra sync.) The others of a batch go on, beside this one's best latent.
                item.stop_reason = "diverged"
                with torch.no_grad():
                    latents[row].copy_(item.best.y)
                diverged = True
            records.append((row, progress))
        if diverged and not (annealed or last) and any(item.active for item in items):
            evaluation = cost.evaluate(joined(), differentiable=True)
        yield records


def _pass_indices(cost: RDCost, shape) -> list[torch.Tensor]:
    """Flat indices into the (M·h·w) latent of each pass's elements, in decoding order."""
    _, _, h, w = shape
    prior = cost.model.prior
    return [geometry.flat_index for geometry in grid_geometry(
        prior.passes, h, w, prior.steps_per_scale, cost.x.device, cost.gain.dtype)]


def _gradients_at(cost: RDCost, y_hat: torch.Tensor) -> torch.Tensor:
    """∂J/∂ŷ (straight-through surrogate) of each encode at its quantised latent: one
    flattened row per encode."""
    y = y_hat.detach().clone().requires_grad_(True)
    evaluation = cost.evaluate(y, differentiable=True)
    (grad,) = torch.autograd.grad(evaluation.loss, [y])
    return grad.flatten(1)


#: a greedy search's requests to the driver that batches them across encodes
_NEEDS_GRADIENT = "gradient"
_NEEDS_TRIAL = "trial"


def _greedy_search(profile: Profile, item: _Item, pass_indices: list[torch.Tensor],
                   y_state: torch.Tensor, j_state: float) -> Generator:
    """One encode's greedy search, as a coroutine: it yields a request, (_NEEDS_GRADIENT,
    latent), answered with ∂J/∂ŷ flattened, or (_NEEDS_TRIAL, latent), answered with the
    trial's (quantised latent, (J, bpp, PSNR)), and keeps the encode's counters."""
    budget = profile.greedy_budget
    trials = 0
    grad = None
    while trials < budget:
        accepted_in_sweep = False
        for indices in pass_indices:
            if trials >= budget:
                return
            if grad is None:
                grad = yield _NEEDS_GRADIENT, y_state
            g = grad[indices]
            order = torch.argsort(g.abs(), descending=True)
            usable = int((g != 0).sum())  # elements with a first-order gain
            batch = max(1, math.ceil(profile.greedy_batch_fraction * indices.numel()))
            next_candidate = 0
            while batch >= 1 and next_candidate < usable and trials < budget:
                chosen = order[next_candidate:min(next_candidate + batch, usable)]
                elements = indices[chosen]
                trial = y_state.clone().view(-1)
                trial[elements] -= torch.sign(g[chosen])
                y_hat, (j_trial, _, _) = yield _NEEDS_TRIAL, trial.view_as(y_state)
                trials += 1
                if j_trial < j_state:
                    y_state, j_state = y_hat, j_trial
                    item.accepted += 1
                    item.moved += int(chosen.numel())
                    next_candidate += int(chosen.numel())
                    accepted_in_sweep = True
                    grad = None
                else:
                    item.refused += 1
                    batch //= 2
        if not accepted_in_sweep:
            item.stop_reason = item.stop_reason or "converged"
            return


def _greedy_phase(cost: RDCost, profile: Profile, run: _Run, items: list[_Item]
                  ) -> Generator[list[tuple[int, LOFProgress]], None, None]:
    """Drives the greedy searches of the running encodes in rounds: the gradients they
    ask for in one batched pass, then their trials in another, then a record each."""
    rows = [row for row, item in enumerate(items) if item.active]
    # Work on the quantised latent of the best iterate: same J, and values that stay put
    # (on the nearest bin of the new grid) when an earlier pass changes their μ.
    starting = cost.select(rows)
    start = starting.evaluate(torch.cat([items[row].best.y for row in rows]))
    pass_indices = _pass_indices(cost, start.y_hat.shape)
    searches, requests = {}, {}
    for k, ((j_state, _, _), row) in enumerate(zip(starting.measures(start.stats), rows)):
        searches[row] = _greedy_search(profile, items[row], pass_indices,
                                       start.y_hat[k:k + 1].clone(), j_state)
        requests[row] = next(searches[row])  # a budget > 0 asks for a gradient first

    def answer(row: int, reply) -> None:
        try:
            requests[row] = searches[row].send(reply)
        except StopIteration:
            del searches[row], requests[row]

    while searches:
        if not run.running(items):
            return
        while True:  # gradients first, until every search asks for a trial
            asking = [row for row in searches if requests[row][0] == _NEEDS_GRADIENT]
            if not asking:
                break
            if not run.running(items):  # checked before every network pass, as alone
                return
            grads = _gradients_at(cost.select(asking),
                                  torch.cat([requests[row][1] for row in asking]))
            for k, row in enumerate(asking):
                answer(row, grads[k])
        if not searches:
            return
        trying = list(searches)
        trial_cost = cost.select(trying)
        evaluation = trial_cost.evaluate(torch.cat([requests[row][1] for row in trying]))
        records = []
        for k, (row, measured) in enumerate(zip(trying, trial_cost.measures(evaluation.stats))):
            y_hat = evaluation.y_hat[k:k + 1]
            answer(row, (y_hat, measured))
            records.append((row, items[row].record(measured, y_hat, PHASE_GREEDY)))
        yield records
