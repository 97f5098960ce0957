"""``forgelens sim serve``: run the simulated forge on a local port (for demos and trials)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from forgelens.cli._common import console

app = typer.Typer(
    help="The simulated forge (GitHub, GitLab, Bitbucket Server/Cloud) for trials and tests."
)


@app.command("serve")
def serve_cmd(
    port: Annotated[int, typer.Option(help="Port to listen on (0 = any free port).")] = 8099,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    org: Annotated[str, typer.Option(help="Organization name.")] = "acme",
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 1,
    repos: Annotated[int, typer.Option(help="Repositories.")] = 3,
    prs: Annotated[int, typer.Option(help="Pull requests per repository.")] = 100,
    error_rate: Annotated[float, typer.Option(help="Share of requests answered 502.")] = 0.0,
    rate_limit: Annotated[int, typer.Option(help="Requests per token and hour.")] = 5000,
) -> None:
    """Serve a deterministic organization until Ctrl-C.

    Example: forgelens sim serve --port 8099 & forgelens collect github:acme --api-url
    http://127.0.0.1:8099
    """
    from forgelens.testing.forge_sim import Budgets, Faults, ForgeSim, SimSize, generate, serve

    sim = ForgeSim(
        generate(seed, SimSize(repos=repos, prs_per_repo=prs), org=org),
        faults=Faults(error_rate=error_rate),
        budgets=Budgets(limit=rate_limit),
    )
    with serve(sim, host=host, port=port) as url:
        console.print(f"simulated GitHub for {org!r} at {url} (Ctrl-C stops it)")
        console.print(f"try: forgelens collect github:{org} --api-url {url}")
        console.print(
            f"also: gitlab:{org} --api-url {url} | bitbucket-server:{org.upper()} --api-url "
            f"{url} | bitbucket:{org} --api-url {url}/2.0"
        )
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            console.print(f"stopped after {sim.requests} requests")
