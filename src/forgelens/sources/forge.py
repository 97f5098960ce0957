"""What a forge plug-in declares: one ``Forge`` descriptor per package ``sources/<forge>/``.

Every place that needs to know the forges (spec parsing, the trigger's SSRF host rules, the
collectors, backfill, tokens) reads the descriptors through ``sources/forges.py``; no other
module keeps its own table of forge names or hosts.

Sources take ``SourceOptions`` (any object with these attributes: the engine's
``CollectOptions`` is one), never an engine type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from forgelens.sources.paths import PathRule, owner_repo

if TYPE_CHECKING:
    from forgelens.sources.base import BackfillSource, ForgeSource
    from forgelens.sources.http import EtagCache
    from forgelens.sources.webhook import Webhooks


class SourceOptions(Protocol):
    """What a forge source reads of the options of a collection."""

    @property
    def api_url(self) -> str | None:
        """``--api-url``: the API root of an Enterprise / self-hosted server (None: public)."""

    @property
    def extra(self) -> Mapping[str, object]:
        """Forge flags: ``api`` (graphql|rest), ``no_wait``, ``concurrency``, ``ca_bundle``."""


SourceFactory = Callable[["SourceOptions", "EtagCache | None"], "ForgeSource"]
BackfillFactory = Callable[[Any], "BackfillSource"]  # takes the source `source` built


@dataclass(frozen=True, slots=True)
class Forge:
    """One forge: the names users give it and the parts forgelens builds from it.

    - ``kind``: the spec prefix (``github:owner/repo``) and the ``source`` of its rows;
    - ``hosts``: public hosts whose web URLs name this forge (``https://github.com/o/r``);
    - ``api_suffix``: where the API lives under a self-hosted server's root (``/api/v3``);
    - ``token_setting``: the ``Settings`` field holding its token(s);
    - ``source``: builds the ``ForgeSource`` from ``SourceOptions`` (and an ETag cache);
    - ``backfill``: wraps that source as a ``BackfillSource`` (None: no backfill);
    - ``example``: a spec to show in messages;
    - ``webhooks``: how its webhook deliveries are verified, read and mapped (None: none);
    - ``repository_path``: how its web URLs' paths name a repository (``sources/paths.py``;
      default ``/owner/repo``).
    """

    kind: str
    hosts: tuple[str, ...]
    api_suffix: str
    token_setting: str | None
    source: SourceFactory
    backfill: BackfillFactory | None
    example: str
    webhooks: Webhooks | None = None
    repository_path: PathRule = owner_repo
