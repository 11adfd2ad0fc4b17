"""Email through an SMTP relay, one connection reused for a batch.

The SMTP dialogue is driven step by step so a failure can be told apart: a refusal
or a dropped connection before DATA proves nothing was sent; a connection lost
during DATA may have delivered the message.
"""

from __future__ import annotations

import smtplib
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from followup.config import Settings
from followup.delivery.channels import Outgoing, Send
from followup.exceptions import (
    AmbiguousDeliveryError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from followup.models.base import Channel


class SmtpEmail:
    kind = Channel.EMAIL

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.concurrency = settings.smtp_connections
        self.sender = settings.smtp_host
        self.from_address = parseaddr(settings.email_from)[1]
        self.domain = self.from_address.rpartition("@")[2] or "localhost"

    @contextmanager
    def connect(self) -> Iterator[Send]:
        """A sender for a batch: one SMTP connection per sending thread, reused."""
        local = threading.local()
        sessions: list[_SmtpSession] = []
        lock = threading.Lock()

        def send(outgoing: Outgoing) -> str:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = _SmtpSession(self)
                with lock:
                    sessions.append(session)
            return session.send(outgoing)

        try:
            yield send
        finally:
            for session in sessions:
                session.close()

    def lookup(self, outgoing: Outgoing, *, since: datetime) -> list[str] | None:
        """None: an SMTP relay cannot be asked what it delivered."""
        return None

    def build(self, outgoing: Outgoing) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.email_from
        message["To"] = outgoing.to
        message["Subject"] = outgoing.subject or ""
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(f"m{outgoing.message_id}", domain=self.domain)
        mailto = f"<mailto:{self.from_address}?subject=unsubscribe%20{outgoing.message_id}>"
        if outgoing.unsubscribe_url:
            # RFC 8058: mail programs unsubscribe with one POST to the https URL.
            message["List-Unsubscribe"] = f"<{outgoing.unsubscribe_url}>, {mailto}"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        else:
            message["List-Unsubscribe"] = mailto
        message["Auto-Submitted"] = "auto-generated"
        # Quoted-printable keeps every line under SMTP's 998-character limit.
        message.set_content(outgoing.body, cte="quoted-printable")
        if outgoing.html:
            message.add_alternative(outgoing.html, subtype="html", cte="quoted-printable")
        return message

    def open(self) -> smtplib.SMTP:
        s = self.settings
        tls = ssl.create_default_context(cafile=s.smtp_ca_file or None)
        smtp: smtplib.SMTP
        if s.smtp_security == "ssl":
            smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=tls)
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
        try:
            smtp.ehlo()
            if s.smtp_security == "starttls":
                smtp.starttls(context=tls)
                smtp.ehlo()
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
        except BaseException:
            smtp.close()
            raise
        return smtp


class _SmtpSession:
    """One batch's connection; reconnects once after a drop, then fails the rest fast."""

    def __init__(self, channel: SmtpEmail) -> None:
        self.channel = channel
        self.smtp: smtplib.SMTP | None = None
        self.unavailable: TransientDeliveryError | None = None

    def send(self, outgoing: Outgoing) -> str:
        message = self.channel.build(outgoing)
        smtp = self._connection()
        try:
            self._envelope(smtp, outgoing.to)
        except (smtplib.SMTPServerDisconnected, OSError):
            self.smtp = None  # the relay dropped an idle connection: one fresh try
            smtp = self._connection()
            self._envelope(smtp, outgoing.to)
        try:
            code, reply = smtp.data(message.as_bytes(policy=policy.SMTP))
        except smtplib.SMTPDataError as exc:  # refused before any content was sent
            raise _by_code(exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.smtp = None
            raise AmbiguousDeliveryError(f"connection lost during DATA: {exc}") from exc
        if code != 250:
            raise _by_code(code, reply)
        return str(message["Message-ID"])

    def _envelope(self, smtp: smtplib.SMTP, to: str) -> None:
        code, reply = smtp.mail(self.channel.from_address)
        if code != 250:
            # The relay refuses us, not this recipient (TLS or login required, sender
            # not allowed): our configuration, so retry within the bound, never fail it.
            smtp.rset()
            raise TransientDeliveryError(f"relay refused our sender: {_text(code, reply)}")
        code, reply = smtp.rcpt(to)
        if code not in (250, 251):
            smtp.rset()
            raise _by_code(code, reply)

    def _connection(self) -> smtplib.SMTP:
        if self.unavailable is not None:
            raise self.unavailable
        if self.smtp is None:
            try:
                self.smtp = self.channel.open()
            except smtplib.SMTPAuthenticationError as exc:
                self.unavailable = TransientDeliveryError(f"SMTP login refused: {exc.smtp_code}")
                raise self.unavailable from exc
            except (TimeoutError, smtplib.SMTPException, OSError) as exc:
                self.unavailable = TransientDeliveryError(f"SMTP server unavailable: {exc}")
                raise self.unavailable from exc
        return self.smtp

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()


def _text(code: int, reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    return f"SMTP {code}: {text}"


def _by_code(code: int, reply: bytes | str) -> DeliveryError:
    reason = _text(code, reply)
    if 400 <= code < 500:
        return TransientDeliveryError(reason, code=str(code))
    return PermanentDeliveryError(reason, code=str(code))
