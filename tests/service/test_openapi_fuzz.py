"""Schemathesis against the OpenAPI schema: no generated input gets a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from forgelens.service.app import create_app
from tests.service.conftest import Service, running_service, service_settings

# The schema the app publishes at /openapi.json (built without starting the app).
schema = schemathesis.openapi.from_dict(
    create_app(service_settings(Path("/nonexistent"))).openapi()
)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(Path(tmp_path_factory.mktemp("fuzz"))) as svc:
        published = svc.client.get("/openapi.json").json()
        assert published["paths"].keys() == schema.raw_schema["paths"].keys()
        yield svc


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_no_input_gets_a_server_error(case: Any, fuzzed: Service) -> None:
    case.call_and_validate(
        base_url=str(fuzzed.client.base_url),
        headers=fuzzed.headers("admin"),
        checks=[not_a_server_error],
    )
