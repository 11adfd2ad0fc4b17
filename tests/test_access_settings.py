"""Settings that guard staff access (issue 20, points 7 and 9)."""

from __future__ import annotations

import pytest

from followup.config import Settings
from followup.exceptions import ConfigurationError
from tests.test_config import PRODUCTION


@pytest.mark.parametrize(
    "token", ["t", "a-real-token", "5f2b8c1e9d4a7063b1e8f2c9d0a4b6e", "z" * 32]
)
def test_production_refuses_what_is_no_twilio_auth_token(token: str) -> None:
    with pytest.raises(ConfigurationError, match="TWILIO_AUTH_TOKEN is not a Twilio auth token"):
        Settings.from_env(PRODUCTION | {"TWILIO_AUTH_TOKEN": token})


@pytest.mark.parametrize("minutes", ["0", "1", "4"])
def test_an_idle_limit_that_ends_sessions_in_use_is_refused(minutes: str) -> None:
    with pytest.raises(
        ConfigurationError, match="FOLLOWUP_CONSOLE_IDLE_MINUTES must be at least 5"
    ):
        Settings.from_env({"FOLLOWUP_CONSOLE_IDLE_MINUTES": minutes})
    assert Settings.from_env({"FOLLOWUP_CONSOLE_IDLE_MINUTES": "5"}).console_idle_minutes == 5


def test_trusted_proxies_default_to_none_and_are_read_as_a_list() -> None:
    assert Settings().proxies == []
    listed = Settings.from_env({"FOLLOWUP_TRUSTED_PROXIES": "10.0.0.5, 192.168.0.0/16,::1"})
    assert listed.proxies == ["10.0.0.5", "192.168.0.0/16", "::1"]
    with pytest.raises(ConfigurationError, match="FOLLOWUP_TRUSTED_PROXIES"):
        Settings.from_env({"FOLLOWUP_TRUSTED_PROXIES": "proxy.internal"})
