"""Settings shared by the sampling planners (CEM, MPPI, random shooting)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from envs.errors import UserError


@dataclass(frozen=True)
class PlannerConfig:
    """How a planner searches action sequences; one config serves CEM, MPPI and random shooting.

    The defaults are sized for a CPU (about 15 ms per planned action with the ``cpu`` preset's model on
    one thread): a short horizon that leans on the critic's value at its end, few candidates, three
    rounds. On a GPU the cost of a planning call barely grows with the population, so raise
    ``population`` (512-1024, as PlaNet and TD-MPC2 use) and ``iterations`` (6).
    """

    horizon: int = 8
    """Length H of the planned action sequences, in agent steps."""
    population: int = 128
    """Candidate sequences evaluated per iteration and per problem (all in one objective call). Includes
    the current plan mean (or warm start) and the policy-prior candidates."""
    elites: int = 16
    """CEM: number of best candidates the sampling distribution is refitted to. Random shooting: number
    of best candidates its spread statistic is measured on. Not used by MPPI."""
    iterations: int = 3
    """Refinement rounds of CEM and MPPI (random shooting samples once and ignores this)."""
    temperature: float = 0.5
    """MPPI: softmax temperature over returns standardised per problem (returns divided by their spread
    across candidates), so it does not depend on the reward scale. Smaller = greedier."""
    init_std: float = 1.0
    """Standard deviation of the Gaussian sampling distribution at the start of each planning call."""
    min_std: float = 0.05
    """Lower bound of the refitted standard deviation (keeps some search)."""
    max_std: float = 2.0
    """Upper bound of the refitted standard deviation."""
    momentum: float = 0.1
    """Share of the previous mean / std kept at each refit: new = momentum * old + (1 - momentum) * fit."""
    prior_fraction: float = 0.05
    """Share of the population drawn from the policy prior, when the caller passes one (TD-MPC2 style)."""
    shift_fill: Literal["repeat", "zero"] = "repeat"
    """Warm start: the plan shifted one step; its new last step repeats the old last step or is zero."""

    def __post_init__(self) -> None:
        if self.horizon < 1:
            raise UserError(f"planner horizon must be >= 1, got {self.horizon}")
        if self.population < 2:
            raise UserError(f"planner population must be >= 2, got {self.population}")
        if not 1 <= self.elites <= self.population:
            raise UserError(f"planner elites must be in [1, population={self.population}], got {self.elites}")
        if self.iterations < 1:
            raise UserError(f"planner iterations must be >= 1, got {self.iterations}")
        if self.temperature <= 0:
            raise UserError(f"planner temperature must be > 0, got {self.temperature}")
        if not 0 < self.min_std <= self.max_std:
            raise UserError(f"planner needs 0 < min_std <= max_std, got {self.min_std}, {self.max_std}")
        if self.init_std <= 0:
            raise UserError(f"planner init_std must be > 0, got {self.init_std}")
        if not 0 <= self.momentum < 1:
            raise UserError(f"planner momentum must be in [0, 1), got {self.momentum}")
        if not 0 <= self.prior_fraction < 1:
            raise UserError(f"planner prior_fraction must be in [0, 1), got {self.prior_fraction}")
        if self.population - 1 - self.prior_candidates < 1:
            raise UserError("planner population leaves no room for sampled candidates after the prior share")

    @property
    def prior_candidates(self) -> int:
        """Number of candidates per problem drawn from the policy prior when one is given."""
        return round(self.prior_fraction * self.population)
