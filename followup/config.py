"""Settings: one object, built from the environment, validated once.

Every variable is documented in the README's settings table. Defaults run the whole
flow on one machine with no accounts: a SQLite file, Celery in-process, and the
console channel for both SMS and email.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import limits

from followup.exceptions import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
E164 = re.compile(r"\+[1-9]\d{7,14}")
WEEKDAYS = {day: n for n, day in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "placeholder", "xxx"}
# Distinct characters a production secret must have at least ("a" * 40 is no secret).
SECRET_VARIETY = 10
# Twilio's auth tokens are 32 hexadecimal characters.
TWILIO_AUTH_TOKEN = re.compile(r"[0-9a-fA-F]{32}")
# A console session used now and then (a form being written) must outlive this; it is
# also more than how often a session's last use is written down (a minute).
SHORTEST_IDLE_MINUTES = 5
# Proxies named by address or network, comma-separated; "*" trusts any (uvicorn's form).
PROXY = re.compile(r"\*|[0-9A-Fa-f:.]+(/\d{1,3})?")


@dataclass(frozen=True)
class Settings:
    environment: str = "development"
    database_url: str = "sqlite:///followup.db"
    # Empty: Celery runs tasks in-process (eager). A redis:// URL: real workers.
    redis_url: str = ""
    templates_dir: Path = PROJECT_ROOT / "templates"
    plans_dir: Path = PROJECT_ROOT / "plans"
    # The exercise library: one TOML file per exercise a therapist may assign.
    exercises_dir: Path = PROJECT_ROOT / "plans" / "exercises"
    default_plan: str = "lower-back"
    default_timezone: str = "America/New_York"
    quiet_hours_start: time = time(8, 0)
    quiet_hours_end: time = time(21, 0)
    # The clinic's own clock: times in the staff console are shown in it.
    clinic_timezone: str = "America/New_York"
    clinic_name: str = "Spine & PT Clinic"
    clinic_phone: str = "+12015550100"
    public_url: str = "http://localhost:8000"
    # Signs one-tap answer and unsubscribe links in emails.
    secret_key: str = field(default="dev-only-secret-key", repr=False)
    link_max_age_days: int = 30
    # On-call staff notified of emergency and attention replies (comma-separated).
    oncall_sms: str = ""
    oncall_emails: str = ""
    # The second tier (e.g. the clinic manager): told when an alert is not acknowledged.
    escalation_sms: str = ""
    escalation_emails: str = ""
    # An unacknowledged alert is sent again after this long, then to the second tier.
    # Emergencies count wall-clock minutes; attention alerts count clinic hours.
    escalate_emergency_minutes: float = 15.0
    escalate_attention_minutes: float = 120.0
    # When staff answer the phone, in the clinic's time zone (FOLLOWUP_DEFAULT_TIMEZONE).
    clinic_days: str = "mon,tue,wed,thu,fri"
    clinic_opens: time = time(8, 0)
    clinic_closes: time = time(18, 0)
    # A patient's series pauses after an emergency or attention reply, until staff
    # resume it or this many hours pass.
    series_pause_hours: float = 72.0
    # A new episode of care starts after this many days without a visit (or after a
    # discharge); the visits of one episode share one series of plan messages.
    episode_gap_days: int = 90
    # A patient with exercises who answered none of their last this-many exercise
    # reminders with DONE appears on the console's "needs a nudge" list.
    nudge_after_reminders: int = 2
    # The next-appointment reminder goes the day before, at this local hour.
    appointment_reminder_at: time = time(17, 0)
    # Frequency caps per patient, in the patient's local calendar, for plan and
    # campaign messages (not alerts to staff, not answers): per day, and in any seven
    # consecutive days. 0 is no cap.
    sms_per_day: int = 1
    sms_per_week: int = 3
    email_per_day: int = 0
    email_per_week: int = 0

    sms_backend: str = "console"
    email_backend: str = "console"

    twilio_account_sid: str = ""
    twilio_auth_token: str = field(default="", repr=False)
    twilio_messaging_service_sid: str = ""
    twilio_from_number: str = ""
    twilio_api_base_url: str = ""
    twilio_timeout: float = 10.0
    # Twilio's own opt-out handling answers STOP/START/HELP; with it off, we answer them.
    twilio_answers_keywords: bool = True

    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_security: str = "none"
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_timeout: float = 30.0
    # Connections to the relay a worker uses at once (one per sending thread).
    smtp_connections: int = 4
    # A CA bundle for a relay whose certificate a private CA signed; empty: system CAs.
    smtp_ca_file: str = ""
    email_from: str = "Spine & PT Clinic <care@clinic.example>"

    dispatch_limit: int = 10000
    # Messages per send task; each task drains its pipeline at the end, so bigger is faster.
    batch_size: int = 2000
    sms_concurrency: int = 16
    # Messages per second per sending number, across all workers; 0 is no limit. One
    # per second suits a US long code; raise it for toll-free or short code senders.
    sms_rate: float = 1.0
    max_attempts: int = 5
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 3600.0
    # How long after an ambiguous send we ask the provider whether it has the message.
    reconcile_after_seconds: float = 30.0
    # A send task holds its rows on a lease it renews while alive; a row whose lease
    # ran out belonged to a dead worker and is recovered.
    lease_seconds: float = 30.0
    # How long claimed rows may wait in the broker for a worker to take them.
    queue_wait_seconds: float = 180.0
    # The same text is not sent to a patient twice within this many hours.
    repeat_window_hours: float = 24.0

    # The largest request body Twilio's hooks, and every other route, accept.
    max_hook_body_bytes: int = 65536
    max_body_bytes: int = 1048576
    # Requests per client address to the links in emails, and per token to the API.
    rate_limit_links: str = "30/minute"
    rate_limit_api: str = "120/minute"
    # /docs and /openapi.json in production too (always served in development).
    api_docs: bool = False
    # A console session ends after this long without a request.
    console_idle_minutes: int = 30
    # Addresses of the reverse proxies whose X-Forwarded-For / -Proto are believed
    # (uvicorn's forwarded_allow_ips); empty: none, the peer's address is the client's.
    trusted_proxies: str = ""

    # Beat sends dispatch and reconcile this often (escalation: every minute).
    tick_seconds: float = 15.0
    # Readiness bounds: a tick later than this past its period, no worker heartbeat for
    # this long, a due message unsent for this long: /readyz answers 503.
    ready_tick_seconds: float = 120.0
    ready_worker_seconds: float = 60.0
    ready_due_seconds: float = 600.0
    # /metrics: served to anyone when enabled (keep it off the public site at the proxy),
    # or only to a bearer of this token when one is set; otherwise 404.
    metrics_enabled: bool = False
    metrics_token: str = field(default="", repr=False)
    # "text" or "json" (one JSON object per line, with the task or request id).
    log_format: str = "text"
    # The twilio client's request lines (URLs and headers at INFO).
    log_provider_requests: bool = False

    def __post_init__(self) -> None:
        self._validate()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `FOLLOWUP_*`, `TWILIO_*` and `SMTP_*` variables."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(env_name(f.name))
            if raw is None:
                continue
            values[f.name] = _parse(f.name, raw, type(getattr(cls, f.name, "")))
        try:
            return cls(**values)  # type: ignore[arg-type]
        except TypeError as exc:  # pragma: no cover - a field type we forgot to parse
            raise ConfigurationError(str(exc)) from exc

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def eager(self) -> bool:
        """True when Celery runs tasks in the calling process (no broker)."""
        return not self.redis_url

    @property
    def oncall(self) -> list[tuple[str, str]]:
        """(channel, address) of every on-call staff contact."""
        return _routes(self.oncall_sms, self.oncall_emails)

    @property
    def second_tier(self) -> list[tuple[str, str]]:
        """(channel, address) of every contact an unacknowledged alert escalates to."""
        return _routes(self.escalation_sms, self.escalation_emails)

    def _validate(self) -> None:
        if self.environment not in {"development", "production"}:
            raise ConfigurationError("FOLLOWUP_ENVIRONMENT must be development or production")
        try:
            ZoneInfo(self.default_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(
                f"FOLLOWUP_DEFAULT_TIMEZONE: unknown time zone {self.default_timezone!r}"
            ) from exc
        try:
            ZoneInfo(self.clinic_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(
                f"FOLLOWUP_CLINIC_TIMEZONE: unknown time zone {self.clinic_timezone!r}"
            ) from exc
        if self.quiet_hours_start >= self.quiet_hours_end:
            raise ConfigurationError("quiet hours: the sending window must start before it ends")
        if self.sms_backend not in {"console", "twilio"}:
            raise ConfigurationError("FOLLOWUP_SMS_BACKEND must be console or twilio")
        if self.email_backend not in {"console", "smtp"}:
            raise ConfigurationError("FOLLOWUP_EMAIL_BACKEND must be console or smtp")
        if self.smtp_security not in {"none", "starttls", "ssl"}:
            raise ConfigurationError("SMTP_SECURITY must be none, starttls or ssl")
        if self.sms_rate < 0:
            raise ConfigurationError("FOLLOWUP_SMS_RATE must be 0 (no limit) or more")
        if self.twilio_timeout <= 0:
            raise ConfigurationError("TWILIO_TIMEOUT must be a positive number of seconds")
        for name in (
            "dispatch_limit",
            "batch_size",
            "sms_concurrency",
            "max_attempts",
            "smtp_connections",
            "max_hook_body_bytes",
            "max_body_bytes",
            "nudge_after_reminders",
        ):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"{env_name(name)} must be at least 1")
        if self.console_idle_minutes < SHORTEST_IDLE_MINUTES:
            raise ConfigurationError(
                f"FOLLOWUP_CONSOLE_IDLE_MINUTES must be at least {SHORTEST_IDLE_MINUTES}: "
                "a shorter limit ends sessions that are in use"
            )
        if not all(PROXY.fullmatch(p) for p in self.proxies):
            raise ConfigurationError(
                "FOLLOWUP_TRUSTED_PROXIES: list proxy addresses or networks, comma-separated "
                "(127.0.0.1, 10.0.0.0/8), or * for any"
            )
        for name in ("oncall_sms", "escalation_sms", "oncall_emails", "escalation_emails"):
            phones = name.endswith("sms")
            for address in filter(None, (a.strip() for a in getattr(self, name).split(","))):
                if not (E164.fullmatch(address) if phones else "@" in address):
                    form = "E.164 phone numbers (+12015550100)" if phones else "emails"
                    raise ConfigurationError(f"{env_name(name)}: list {form}, comma-separated")
        if self.log_format not in {"text", "json"}:
            raise ConfigurationError("FOLLOWUP_LOG_FORMAT must be text or json")
        if self.metrics_token and len(self.metrics_token) < 16:
            raise ConfigurationError("FOLLOWUP_METRICS_TOKEN must be 16 characters or more")
        for name in (
            "reconcile_after_seconds",
            "lease_seconds",
            "queue_wait_seconds",
            "tick_seconds",
            "ready_tick_seconds",
            "ready_worker_seconds",
            "ready_due_seconds",
        ):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{env_name(name)} must be a positive number of seconds")
        for name in ("rate_limit_links", "rate_limit_api"):
            try:
                limits.parse(getattr(self, name))
            except ValueError:
                raise ConfigurationError(
                    f"{env_name(name)}: cannot read {getattr(self, name)!r} (say e.g. 30/minute)"
                ) from None
        if self.repeat_window_hours < 0:
            raise ConfigurationError("FOLLOWUP_REPEAT_WINDOW_HOURS must be 0 (no guard) or more")
        if self.escalate_emergency_minutes <= 0 or self.escalate_attention_minutes <= 0:
            raise ConfigurationError("alert escalation times must be positive numbers of minutes")
        if self.series_pause_hours <= 0 or self.episode_gap_days < 1:
            raise ConfigurationError(
                "FOLLOWUP_SERIES_PAUSE_HOURS and FOLLOWUP_EPISODE_GAP_DAYS must be positive"
            )
        for name in ("sms_per_day", "sms_per_week", "email_per_day", "email_per_week"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"{env_name(name)} must be 0 (no cap) or more")
        if self.clinic_opens >= self.clinic_closes:
            raise ConfigurationError("clinic hours: FOLLOWUP_CLINIC_OPENS must be before CLOSES")
        unknown_days = set(self.clinic_day_numbers) - set(range(7))
        if unknown_days or not self.clinic_day_numbers:
            raise ConfigurationError(
                "FOLLOWUP_CLINIC_DAYS: name days as mon,tue,wed,thu,fri,sat,sun"
            )
        if self.sms_backend == "twilio":
            if not self.twilio_account_sid or not self.twilio_auth_token:
                raise ConfigurationError(
                    "the twilio backend needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
                )
            if not (self.twilio_messaging_service_sid or self.twilio_from_number):
                raise ConfigurationError(
                    "the twilio backend needs TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER"
                )
        if self.environment == "production":
            self._validate_production()

    def _validate_production(self) -> None:
        if self.database_url.startswith("sqlite"):
            raise ConfigurationError("production needs FOLLOWUP_DATABASE_URL for PostgreSQL")
        if self.eager:
            raise ConfigurationError("production needs FOLLOWUP_REDIS_URL (the Celery broker)")
        if "console" in {self.sms_backend, self.email_backend}:
            raise ConfigurationError("production cannot use the console channel")
        if self.secret_key.lower() in PLACEHOLDER_SECRETS | {"dev-only-secret-key"}:
            raise ConfigurationError("FOLLOWUP_SECRET_KEY is a placeholder")
        if len(self.secret_key.encode()) < 32 or len(set(self.secret_key)) < SECRET_VARIETY:
            raise ConfigurationError(
                "FOLLOWUP_SECRET_KEY is too weak: use 32 random bytes or more "
                '(python3 -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        if self.smtp_username and self.smtp_security == "none":
            raise ConfigurationError(
                "SMTP_USERNAME is set but SMTP_SECURITY is none: the password would cross the "
                "network in clear; use starttls or ssl"
            )
        if self.twilio_api_base_url:
            raise ConfigurationError(
                "TWILIO_API_BASE_URL is set: production sends only to Twilio itself"
            )
        if self.twilio_auth_token.lower() in PLACEHOLDER_SECRETS:
            raise ConfigurationError("TWILIO_AUTH_TOKEN is a placeholder")
        if self.sms_backend == "twilio" and not TWILIO_AUTH_TOKEN.fullmatch(self.twilio_auth_token):
            raise ConfigurationError(
                "TWILIO_AUTH_TOKEN is not a Twilio auth token (32 hexadecimal characters)"
            )
        if self.smtp_username and self.smtp_password.lower() in PLACEHOLDER_SECRETS:
            raise ConfigurationError("SMTP_PASSWORD is a placeholder")
        if not self.public_url.startswith("https://"):
            raise ConfigurationError("production needs an https:// FOLLOWUP_PUBLIC_URL")
        if not self.oncall:
            raise ConfigurationError(
                "production needs an on-call route for alerts: "
                "FOLLOWUP_ONCALL_SMS or FOLLOWUP_ONCALL_EMAILS"
            )

    @property
    def proxies(self) -> list[str]:
        """The trusted proxies, one address or network each; empty when none is."""
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def clinic_day_numbers(self) -> list[int]:
        """The clinic's open days as weekday numbers (Monday 0); 7 for a name not known."""
        return [WEEKDAYS.get(d.strip().lower()[:3], 7) for d in self.clinic_days.split(",")]


def _routes(sms: str, emails: str) -> list[tuple[str, str]]:
    phones = [("sms", a.strip()) for a in sms.split(",") if a.strip()]
    return phones + [("email", a.strip()) for a in emails.split(",") if a.strip()]


def env_name(field_name: str) -> str:
    if field_name.startswith(("twilio_", "smtp_")):
        return field_name.upper()
    return "FOLLOWUP_" + field_name.upper()


def _parse(name: str, raw: str, kind: type) -> object:
    try:
        if kind is bool:
            if raw.strip().lower() not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(raw)
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is time:
            return time.fromisoformat(raw.strip())
        if issubclass(kind, Path):
            return Path(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{env_name(name)}: cannot read {raw!r}") from exc
    return raw.strip()
