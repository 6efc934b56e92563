"""Encoding profiles: named balance points between compression and encoder effort.

Profiles are *data*: they live in ``profiles.json`` beside this module (shipped as package
data) and only set numbers that the one LOF code path (:mod:`mspviewer.codec.lof`) reads.
Every profile decodes with the same decoder; only the encoder's work differs.

Fields of a profile:

- ``name``, ``description`` (one line, shown by ``mspviewer profiles``);
- ``lof_iterations``: Adam iterations on the latent (0: no LOF, plain g_a);
- ``learning_rate``, ``lr_schedule`` (``constant`` or ``cosine`` decay to 0);
- ``lr_lambda_exponent``, ``lr_reference_lambda``: the step scales with λ as
  ``learning_rate · (λ / lr_reference_lambda) ** lr_lambda_exponent`` (exponent 0: the same
  step at every λ). With a trained model the best step grows with λ: a step long enough
  for the top of the ladder overshoots at its bottom (``docs/profiles.md``);
- ``lr_backoff_patience``: when > 0, after that many Adam iterations without a new best J,
  LOF returns to the best latent, restarts Adam and halves the learning rate (0: off);
- ``rate_gradient``: the rate term's gradient, ``continuous`` (of the bits at y − μ; the
  default) or ``rounded`` (of the bits at round(y − μ), straight through the rounding);
- ``rounding``: how the gradient phase's surrogate quantises, ``straight_through`` (the
  encoder's exact rounding, gradients passed through it; the default) or ``annealed``
  (stochastic Gumbel annealing, Yang, Bamler and Mandt 2020: a relaxed random choice of the
  two nearest bins whose temperature falls from ``temperature_start`` to
  ``temperature_end``, geometrically over the iterations; ``rate_gradient`` then does not
  apply). Either way J is measured exactly, with the encoder's rounding;
- ``greedy``: run the greedy search after the gradient phase; ``greedy_budget``: how many
  exact RD evaluations it may spend; ``greedy_batch_fraction``: the first batch of a pass,
  as a fraction of that pass's elements;
- ``time_budget_s``: optional wall-clock cap for the whole optimisation (``null``: none).

``$MSPVIEWER_PROFILES`` names a profiles file that replaces the shipped one (same format).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from mspviewer.errors import MSPViewerError

PROFILES_ENV = "MSPVIEWER_PROFILES"
PROFILES_FORMAT = "mspviewer-profiles"
PROFILES_VERSION = 1
DEFAULT_PROFILE = "fast"
LR_SCHEDULES = ("constant", "cosine")
RATE_GRADIENTS = ("continuous", "rounded")  # see mspviewer.codec.lof and .rd_cost
ROUNDINGS = ("straight_through", "annealed")  # see mspviewer.codec.lof and .rd_cost
#: Annealing temperatures: at 1 the two nearest bins are nearly equally likely whatever
#: the residual, so higher values only add noise.
TEMPERATURE_RANGE = (1e-3, 1.0)
#: Bounds of the λ scaling of LOF's step, far beyond any useful setting: they keep
#: (λ / reference) ** exponent a finite float for every λ a model can be asked for.
MAX_LR_LAMBDA_EXPONENT = 4.0
LR_REFERENCE_LAMBDA_RANGE = (1e-4, 1.0)


class ProfileError(MSPViewerError):
    """A profile file is malformed."""


class UnknownProfileError(ProfileError, KeyError):
    """No profile of that name; the message lists the valid names."""

    def __init__(self, name: str, valid: tuple[str, ...]):
        self.name = name
        self.valid = valid
        super().__init__(f"unknown profile {name!r}; valid profiles: {', '.join(valid)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: field → (what the error says, test): a profile file is user input, so types are checked
_FIELD_TYPES = {
    "name": ("a string", lambda v: isinstance(v, str)),
    "description": ("a string", lambda v: isinstance(v, str)),
    "lof_iterations": ("an integer", _is_integer),
    "schedule_iterations": ("an integer", _is_integer),
    "learning_rate": ("a number", _is_number),
    "lr_schedule": ("a string", lambda v: isinstance(v, str)),
    "lr_lambda_exponent": ("a number", _is_number),
    "lr_reference_lambda": ("a number", _is_number),
    "lr_backoff_patience": ("an integer", _is_integer),
    "rate_gradient": ("a string", lambda v: isinstance(v, str)),
    "rounding": ("a string", lambda v: isinstance(v, str)),
    "temperature_start": ("a number", _is_number),
    "temperature_end": ("a number", _is_number),
    "greedy": ("true or false", lambda v: isinstance(v, bool)),
    "greedy_budget": ("an integer", _is_integer),
    "greedy_batch_fraction": ("a number", _is_number),
    "time_budget_s": ("a number or null", lambda v: v is None or _is_number(v)),
}


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    lof_iterations: int = 0
    #: iterations the step and temperature schedules span (0: lof_iterations); larger, LOF
    #: stops part way along them, after lof_iterations, and the step has not decayed fully
    schedule_iterations: int = 0
    learning_rate: float = 0.02
    lr_schedule: str = "cosine"
    lr_lambda_exponent: float = 0.0
    lr_reference_lambda: float = 0.013
    lr_backoff_patience: int = 0
    rate_gradient: str = "continuous"
    rounding: str = "straight_through"
    temperature_start: float = 0.5
    temperature_end: float = 0.05
    greedy: bool = False
    greedy_budget: int = 0
    greedy_batch_fraction: float = 0.05
    time_budget_s: float | None = None

    def __post_init__(self) -> None:
        wrong = [f"{key} must be {kind}, got {getattr(self, key)!r}"
                 for key, (kind, accepts) in _FIELD_TYPES.items()
                 if not accepts(getattr(self, key))]
        if wrong:  # the value checks below would raise TypeError on these
            raise ProfileError(f"invalid profile {self.name!r}: " + "; ".join(wrong))
        problems = []
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            problems.append(f"name {self.name!r} must be a non-empty identifier")
        if "\n" in self.description or not self.description.strip():
            problems.append("description must be one non-empty line")
        if not isinstance(self.lof_iterations, int) or self.lof_iterations < 0:
            problems.append(f"lof_iterations must be an integer >= 0, got {self.lof_iterations!r}")
        if self.schedule_iterations and self.schedule_iterations < self.lof_iterations:
            problems.append(f"schedule_iterations must be 0 (the same as lof_iterations) or at "
                            f"least lof_iterations ({self.lof_iterations}), got "
                            f"{self.schedule_iterations!r}")
        if self.lof_iterations and not (self.learning_rate > 0
                                        and math.isfinite(self.learning_rate)):
            problems.append(f"learning_rate must be finite and > 0, got {self.learning_rate!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            problems.append(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if not abs(self.lr_lambda_exponent) <= MAX_LR_LAMBDA_EXPONENT:  # NaN fails too
            problems.append(f"lr_lambda_exponent must be within ±{MAX_LR_LAMBDA_EXPONENT:g}, "
                            f"got {self.lr_lambda_exponent!r}")
        low, high = LR_REFERENCE_LAMBDA_RANGE
        if not low <= self.lr_reference_lambda <= high:
            problems.append(f"lr_reference_lambda must be within [{low:g}, {high:g}], "
                            f"got {self.lr_reference_lambda!r}")
        if self.lr_backoff_patience < 0:
            problems.append(f"lr_backoff_patience must be an integer >= 0, "
                            f"got {self.lr_backoff_patience!r}")
        if self.rate_gradient not in RATE_GRADIENTS:
            problems.append(f"rate_gradient must be one of {RATE_GRADIENTS}, "
                            f"got {self.rate_gradient!r}")
        if self.rounding not in ROUNDINGS:
            problems.append(f"rounding must be one of {ROUNDINGS}, got {self.rounding!r}")
        low, high = TEMPERATURE_RANGE
        if not low <= self.temperature_end <= self.temperature_start <= high:  # NaN fails
            problems.append(f"temperatures must satisfy {low:g} <= temperature_end <= "
                            f"temperature_start <= {high:g}, got {self.temperature_start!r} "
                            f"→ {self.temperature_end!r}")
        if not isinstance(self.greedy, bool):
            problems.append(f"greedy must be true or false, got {self.greedy!r}")
        if not isinstance(self.greedy_budget, int) or self.greedy_budget < 0:
            problems.append(f"greedy_budget must be an integer >= 0, got {self.greedy_budget!r}")
        if self.greedy and not 0 < self.greedy_batch_fraction <= 1:
            problems.append("greedy_batch_fraction must be in (0, 1]")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            problems.append(f"time_budget_s must be > 0 or null, got {self.time_budget_s!r}")
        if problems:
            raise ProfileError(f"invalid profile {self.name!r}: " + "; ".join(problems))

    @property
    def uses_lof(self) -> bool:
        return self.lof_iterations > 0 or (self.greedy and self.greedy_budget > 0)

    def learning_rate_at(self, lam: float) -> float:
        """Adam's step at λ before the schedule (see ``lr_lambda_exponent``); exponent 0
        gives ``learning_rate`` exactly, since x ** 0.0 is exactly 1.0."""
        return self.learning_rate * (lam / self.lr_reference_lambda) ** self.lr_lambda_exponent

    @property
    def schedule_length(self) -> int:
        """Iterations the step and temperature schedules run their course over."""
        return self.schedule_iterations or self.lof_iterations

    @property
    def max_iterations(self) -> int:
        """Upper bound on the progress records LOF yields (for progress bars)."""
        return self.lof_iterations + (self.greedy_budget if self.greedy else 0)

    def temperature_at(self, step: int) -> float:
        """Annealing temperature of gradient step ``step`` (0-based): geometric from
        ``temperature_start`` at the first step to ``temperature_end`` at the last step of
        the schedule (:attr:`schedule_length`)."""
        length = self.schedule_length
        if length <= 1:
            return self.temperature_end
        fraction = min(step, length - 1) / (length - 1)
        return self.temperature_start * (self.temperature_end / self.temperature_start) ** fraction

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "Profile":
        return dataclasses.replace(self, **changes)

    def with_time_budget(self, seconds: float | None) -> "Profile":
        """This profile with LOF capped at ``seconds`` (unchanged for None, or for a
        profile that runs no LOF, which a budget cannot affect)."""
        if seconds is None or not self.uses_lof:
            return self
        return self.replace(time_budget_s=float(seconds))

    @classmethod
    def from_dict(cls, data: dict) -> "Profile":
        if not isinstance(data, dict):
            raise ProfileError(f"a profile must be an object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ProfileError(f"profile {data.get('name')!r} has unknown fields {unknown}")
        missing = [key for key in ("name", "description") if key not in data]
        if missing:
            raise ProfileError(f"profile {data.get('name')!r} lacks {missing}")
        values = dict(data)
        for key in ("lof_iterations", "lr_backoff_patience", "greedy_budget"):
            if isinstance(values.get(key), float) and values[key].is_integer():
                values[key] = int(values[key])
        for key in ("learning_rate", "lr_lambda_exponent", "lr_reference_lambda",
                    "temperature_start", "temperature_end", "greedy_batch_fraction",
                    "time_budget_s"):
            if isinstance(values.get(key), int) and not isinstance(values[key], bool):
                values[key] = float(values[key])
        return cls(**values)


def builtin_profiles_path() -> Path:
    return Path(str(resources.files("mspviewer.codec").joinpath("profiles.json")))


def parse_profiles(text: str, source: str = "profiles") -> dict[str, Profile]:
    """Profiles from the JSON text of a profiles file, in file order."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ProfileError(f"{source} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or data.get("format") != PROFILES_FORMAT:
        raise ProfileError(f"{source} is not an mspviewer profiles file")
    if data.get("version") != PROFILES_VERSION:
        raise ProfileError(f"{source} has version {data.get('version')}, this build reads "
                           f"version {PROFILES_VERSION}")
    entries = data.get("profiles")
    if not isinstance(entries, list) or not entries:
        raise ProfileError(f"{source} lists no profiles")
    profiles: dict[str, Profile] = {}
    for entry in entries:
        profile = Profile.from_dict(entry)
        if profile.name in profiles:
            raise ProfileError(f"{source} defines profile {profile.name!r} twice")
        profiles[profile.name] = profile
    return profiles


def load_profiles(path: str | os.PathLike | None = None) -> dict[str, Profile]:
    """The profiles of a file (default: ``$MSPVIEWER_PROFILES`` if set, else the shipped
    ``profiles.json``), by name, in file order."""
    from_environment = path is None and bool(os.environ.get(PROFILES_ENV))
    if path is None:
        path = os.environ.get(PROFILES_ENV) or None
    if path is None:
        return dict(_builtin_profiles())
    path = Path(path)
    try:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ProfileError(f"cannot read profiles file {path}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise ProfileError(f"profiles file {path} is not UTF-8 text (JSON)") from None
        return parse_profiles(text, str(path))
    except ProfileError as error:
        if from_environment:  # (which nothing on the command line names)
            raise ProfileError(f"{error} (named by ${PROFILES_ENV})") from None
        raise


@lru_cache(maxsize=1)
def _builtin_profiles() -> dict[str, Profile]:
    text = resources.files("mspviewer.codec").joinpath("profiles.json").read_text("utf-8")
    return parse_profiles(text, "the shipped profiles.json")


def profile_names() -> tuple[str, ...]:
    return tuple(load_profiles())


def get_profile(name: "str | Profile") -> Profile:
    """The profile called ``name`` (see :func:`load_profiles`); a :class:`Profile` is
    passed through unchanged."""
    if isinstance(name, Profile):
        return name
    profiles = load_profiles()
    try:
        return profiles[name]
    except (KeyError, TypeError):
        raise UnknownProfileError(str(name), tuple(profiles)) from None
