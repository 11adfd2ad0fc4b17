"""The SMTP channel over STARTTLS and implicit TLS, with login, against aiosmtpd."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from followup.config import Settings
from followup.delivery.channels import Outgoing
from followup.delivery.channels.email import SmtpEmail
from followup.exceptions import TransientDeliveryError
from tests.conftest import SmtpRecorder, free_port

MESSAGE = Outgoing(7, "pat@example.com", "Hi Pat,\n", subject="A reminder", html="<p>Hi Pat,</p>")


def authenticate(
    server: SMTP, session: object, envelope: object, mechanism: str, data: object
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"clinic", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def starttls_server(ca: trustme.CA) -> Iterator[tuple[Controller, SmtpRecorder]]:
    recorder = SmtpRecorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_context(ca),
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    yield controller, recorder
    controller.stop()


def channel(controller: Controller, ca_file: str, **more: object) -> SmtpEmail:
    settings = Settings(
        email_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=controller.port,
        smtp_ca_file=ca_file,
        smtp_username="clinic",
        smtp_password="s3cret",
    )
    return SmtpEmail(settings.with_overrides(**more))


def test_starttls_and_login_deliver(
    starttls_server: tuple[Controller, SmtpRecorder], ca_file: str
) -> None:
    controller, recorder = starttls_server
    with channel(controller, ca_file, smtp_security="starttls").connect() as send:
        provider_id = send(MESSAGE)
    [envelope] = recorder.envelopes
    assert envelope.rcpt_tos == ["pat@example.com"]
    assert provider_id.endswith("@clinic.example>")


def test_plain_connection_to_a_tls_only_relay_is_refused_as_transient(
    starttls_server: tuple[Controller, SmtpRecorder], ca_file: str
) -> None:
    controller, recorder = starttls_server
    with (
        channel(controller, ca_file, smtp_security="none").connect() as send,
        pytest.raises(TransientDeliveryError),
    ):
        send(MESSAGE)
    assert recorder.envelopes == []


def test_wrong_password_is_transient_and_fails_the_rest_of_the_batch_fast(
    starttls_server: tuple[Controller, SmtpRecorder], ca_file: str
) -> None:
    controller, _ = starttls_server
    bad = channel(controller, ca_file, smtp_security="starttls", smtp_password="wrong")
    with bad.connect() as send:
        with pytest.raises(TransientDeliveryError, match="login refused"):
            send(MESSAGE)
        with pytest.raises(TransientDeliveryError, match="login refused"):
            send(MESSAGE)


def test_implicit_tls_delivers(ca: trustme.CA, ca_file: str) -> None:
    recorder = SmtpRecorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=server_context(ca),
        authenticator=authenticate,
        # aiosmtpd does not count implicit TLS as TLS for AUTH; the socket is TLS all along.
        auth_require_tls=False,
    )
    controller.start()
    try:
        with channel(controller, ca_file, smtp_security="ssl").connect() as send:
            send(MESSAGE)
    finally:
        controller.stop()
    assert len(recorder.envelopes) == 1
