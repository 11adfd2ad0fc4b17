from datetime import time

import pytest

from followup.config import Settings
from followup.exceptions import ConfigurationError

# A production environment that starts; each test changes one thing.
PRODUCTION = {
    "FOLLOWUP_ENVIRONMENT": "production",
    "FOLLOWUP_DATABASE_URL": "postgresql+psycopg://db/followup",
    "FOLLOWUP_REDIS_URL": "redis://redis:6379/0",
    "FOLLOWUP_SMS_BACKEND": "twilio",
    "FOLLOWUP_EMAIL_BACKEND": "smtp",
    "FOLLOWUP_PUBLIC_URL": "https://followup.clinic.example",
    "TWILIO_ACCOUNT_SID": "AC123",
    "TWILIO_AUTH_TOKEN": "5f2b8c1e9d4a7063b1e8f2c9d0a4b6e3",
    "TWILIO_MESSAGING_SERVICE_SID": "MG123",
    "FOLLOWUP_SECRET_KEY": "k3Jq9vX2-rT7pLm4_WnB8sYc1Hd6Fg0Ze5Ua",
    "FOLLOWUP_ONCALL_SMS": "+12015550900",
}


def test_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "FOLLOWUP_DATABASE_URL": "postgresql+psycopg://db/followup",
            "FOLLOWUP_QUIET_HOURS_START": "09:30",
            "FOLLOWUP_SMS_CONCURRENCY": "50",
            "TWILIO_TIMEOUT": "2.5",
            "SMTP_PORT": "587",
        }
    )
    assert settings.database_url == "postgresql+psycopg://db/followup"
    assert settings.quiet_hours_start == time(9, 30)
    assert (settings.sms_concurrency, settings.twilio_timeout, settings.smtp_port) == (50, 2.5, 587)
    assert settings.eager


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"FOLLOWUP_SMS_CONCURRENCY": "many"}, "FOLLOWUP_SMS_CONCURRENCY: cannot read"),
        ({"FOLLOWUP_DEFAULT_TIMEZONE": "Mars/Base"}, "unknown time zone"),
        ({"FOLLOWUP_QUIET_HOURS_START": "22:00"}, "must start before it ends"),
        ({"FOLLOWUP_SMS_BACKEND": "twilio"}, "TWILIO_ACCOUNT_SID"),
        ({"TWILIO_TIMEOUT": "0"}, "TWILIO_TIMEOUT"),
    ],
)
def test_bad_settings_are_refused_with_the_variable_name(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(environ)


def test_production_refuses_embedded_defaults_and_placeholder_secrets() -> None:
    production = PRODUCTION | {"TWILIO_AUTH_TOKEN": "changeme"}
    with pytest.raises(ConfigurationError, match="placeholder"):
        Settings.from_env(production)
    assert not Settings.from_env(
        production | {"TWILIO_AUTH_TOKEN": "5f2b8c1e9d4a7063b1e8f2c9d0a4b6e3"}
    ).eager
    with pytest.raises(ConfigurationError, match="FOLLOWUP_SECRET_KEY"):
        Settings.from_env(production | {"TWILIO_AUTH_TOKEN": "t", "FOLLOWUP_SECRET_KEY": ""})
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        Settings.from_env(
            production | {"TWILIO_AUTH_TOKEN": "t", "FOLLOWUP_DATABASE_URL": "sqlite:///x.db"}
        )


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"FOLLOWUP_SECRET_KEY": "a-long-random-key"}, "too weak"),  # 17 bytes
        ({"FOLLOWUP_SECRET_KEY": "ab" * 24}, "too weak"),  # 48 bytes, two characters
        ({"FOLLOWUP_SECRET_KEY": "é" * 20}, "too weak"),  # 40 bytes, one character
        ({"SMTP_USERNAME": "relay", "SMTP_PASSWORD": "a-real-password"}, "in clear"),
        ({"TWILIO_API_BASE_URL": "http://127.0.0.1:9999"}, "only to Twilio"),
        ({"FOLLOWUP_RATE_LIMIT_API": "lots"}, "FOLLOWUP_RATE_LIMIT_API"),
    ],
)
def test_production_refuses_weak_secrets_clear_logins_and_other_twilios(
    changes: dict[str, str], says: str
) -> None:
    with pytest.raises(ConfigurationError, match=says):
        Settings.from_env(PRODUCTION | changes)
    logged_in = PRODUCTION | {"SMTP_USERNAME": "relay", "SMTP_PASSWORD": "a-real-password"}
    assert Settings.from_env(logged_in | {"SMTP_SECURITY": "starttls"}).smtp_username == "relay"


def test_production_refuses_to_start_without_an_on_call_route() -> None:
    production = {k: v for k, v in PRODUCTION.items() if k != "FOLLOWUP_ONCALL_SMS"}
    with pytest.raises(ConfigurationError, match="on-call route"):
        Settings.from_env(production)
    with pytest.raises(ConfigurationError, match="on-call route"):
        Settings.from_env(production | {"FOLLOWUP_ONCALL_SMS": " , "})
    with pytest.raises(ConfigurationError, match="FOLLOWUP_ONCALL_SMS"):
        Settings.from_env(production | {"FOLLOWUP_ONCALL_SMS": "201 555 0900"})
    with pytest.raises(ConfigurationError, match="FOLLOWUP_ESCALATION_EMAILS"):
        Settings.from_env(PRODUCTION | {"FOLLOWUP_ESCALATION_EMAILS": "manager"})
    assert Settings.from_env(production | {"FOLLOWUP_ONCALL_EMAILS": "oncall@clinic.example"})
    # Development starts without one; `followup check` warns instead.
    assert Settings.from_env({}).oncall == []


def test_readme_documents_every_setting() -> None:
    from dataclasses import fields

    from followup.config import PROJECT_ROOT, env_name

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [
        env_name(f.name) for f in fields(Settings) if f"| `{env_name(f.name)}` |" not in readme
    ]
    assert missing == []


def test_booleans_are_read_strictly() -> None:
    assert Settings.from_env({"TWILIO_ANSWERS_KEYWORDS": "false"}).twilio_answers_keywords is False
    with pytest.raises(ConfigurationError, match="TWILIO_ANSWERS_KEYWORDS"):
        Settings.from_env({"TWILIO_ANSWERS_KEYWORDS": "maybe"})
