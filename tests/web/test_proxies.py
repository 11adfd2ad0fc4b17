"""Client addresses behind a proxy (issue 20, point 9), on the real server: without
FOLLOWUP_TRUSTED_PROXIES nobody's X-Forwarded-For is believed, so a client cannot dodge
the per-address sign-in throttle by naming other addresses; with its proxy trusted,
each forwarded client is counted, and audited, on its own."""

from __future__ import annotations

import re

import pytest
import redis as redis_lib
import requests
from sqlalchemy import select

from followup.models.staff import AuditEntry
from followup.runtime import Runtime
from tests.conftest import REDIS_URL
from tests.live_server import LiveServer


def failed_sign_ins(server: LiveServer, count: int) -> list[int]:
    """Wrong passwords for `count` different names, each claiming another address."""
    statuses = []
    for n in range(count):
        with requests.Session() as browser:
            form = browser.get(f"{server.url}/console/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form)
            assert csrf
            forwarded = {"X-Forwarded-For": f"203.0.113.{n + 1}"}
            answer = browser.post(
                f"{server.url}/console/login",
                data={"name": f"guess{n}", "password": "not it at all", "csrf": csrf.group(1)},
                headers=forwarded,
            )
            statuses.append(answer.status_code)
    return statuses


# What a client address is does not depend on the database: one is enough.
one_database = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@one_database
def test_forwarded_addresses_are_not_believed_without_a_trusted_proxy(
    web_runtime: Runtime, redis: redis_lib.Redis
) -> None:
    web_runtime.settings = web_runtime.settings.with_overrides(redis_url=REDIS_URL)
    with LiveServer(web_runtime) as server:
        statuses = failed_sign_ins(server, 21)
    assert statuses == [401] * 20 + [429]  # twenty per address, whatever it claims
    with web_runtime.sessions() as session:
        addresses = set(session.scalars(select(AuditEntry.address)))
    assert addresses == {"127.0.0.1"}


@one_database
def test_a_trusted_proxys_forwarded_clients_are_counted_each_on_their_own(
    web_runtime: Runtime, redis: redis_lib.Redis
) -> None:
    web_runtime.settings = web_runtime.settings.with_overrides(
        redis_url=REDIS_URL, trusted_proxies="127.0.0.1"
    )
    with LiveServer(web_runtime) as server:
        statuses = failed_sign_ins(server, 21)
    assert statuses == [401] * 21
    with web_runtime.sessions() as session:
        addresses = set(session.scalars(select(AuditEntry.address)))
    assert addresses == {f"203.0.113.{n + 1}" for n in range(21)}
