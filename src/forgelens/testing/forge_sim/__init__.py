"""A simulated forge (ASGI): a deterministic organization rendered through forge APIs, with
real pagination, rate-limit budgets, ETags and injectable faults. ``forgelens sim serve`` runs it;
tests run it on a real socket with ``serve``.

    sim = ForgeSim(generate(seed=1, size=SimSize(repos=2, prs_per_repo=50)))
    with serve(sim) as url:
        ...  # point a source at url
"""

from __future__ import annotations

from forgelens.testing.forge_sim.app import ForgeSim, SimRequest, SimResponse
from forgelens.testing.forge_sim.dataset import Dataset, SimSize, generate
from forgelens.testing.forge_sim.faults import Budgets, Faults
from forgelens.testing.forge_sim.github_cost import QueryCost, query_cost
from forgelens.testing.forge_sim.org import org_dataset, touch
from forgelens.testing.forge_sim.secondary import SecondaryLimits
from forgelens.testing.forge_sim.server import serve

__all__ = [
    "Budgets",
    "Dataset",
    "Faults",
    "ForgeSim",
    "QueryCost",
    "SecondaryLimits",
    "SimRequest",
    "SimResponse",
    "SimSize",
    "generate",
    "org_dataset",
    "query_cost",
    "serve",
    "touch",
]
