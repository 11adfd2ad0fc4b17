"""The console through the real app (Starlette's test client), as one browser."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from followup.runtime import Runtime
from followup.web.app import create_app
from tests.conftest import PUBLIC


@pytest.fixture
def console(web_runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(web_runtime), base_url=PUBLIC) as client:
        yield client
