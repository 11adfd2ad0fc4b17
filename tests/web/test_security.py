"""The web side against hostile input, on the real server (uvicorn on a loopback port):
body limits, plain input, scanners, rate limits, headers, logs and the audit."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis as redis_lib
import requests
from click.testing import CliRunner
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from followup.campaigns.segments import Segment, candidates
from followup.cli.main import main
from followup.config import Settings
from followup.content.links import Links
from followup.db import transaction
from followup.models.outbox import Message
from followup.models.replies import Reply
from followup.models.staff import AuditEntry
from followup.runtime import Runtime, use
from followup.staff.members import add_staff, issue_token
from tests.campaigns.test_lifecycle import patient
from tests.conftest import REDIS_URL, add_patient, enrol_visit, live_settings
from tests.delivery.test_dispatch import rows
from tests.live_server import LiveServer
from tests.peers.twilio_server import AUTH_TOKEN, TwilioPeer

PATIENT_PHONE = "+12015550111"
PATIENT_EMAIL = "pat@example.com"


@pytest.fixture
def web(settings: Settings, twilio_server: TwilioPeer, redis: redis_lib.Redis) -> Iterator[Runtime]:
    runtime = Runtime(
        live_settings(
            settings,
            twilio_server,
            redis_url=REDIS_URL,
            rate_limit_links="8/minute",
            oncall_emails="oncall@clinic.example",
        )
    )
    use(runtime)
    yield runtime
    use(None)


@pytest.fixture
def server(web: Runtime) -> Iterator[LiveServer]:
    with LiveServer(web) as live:
        web.settings = web.settings.with_overrides(public_url=live.url)
        yield live


def signed(server: LiveServer, path: str, params: dict[str, str]) -> requests.Response:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(server.url + path, params)
    return requests.post(server.url + path, data=params, headers={"X-Twilio-Signature": signature})


def raw_request(server: LiveServer, head: str, body_parts: list[bytes]) -> str:
    """Send `head` and some of a body over a socket, then read what the server says
    without sending the rest: a server that waits for the whole body never answers
    (the socket times out and the test fails)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(head.encode())
        for part in body_parts:
            try:
                connection.sendall(part)
            except OSError:
                break  # the server has answered and closed: what we care about
        return connection.recv(4096).decode(errors="replace")


def test_a_huge_declared_body_is_refused_before_it_is_read(server: LiveServer) -> None:
    head = (
        "POST /twilio/sms HTTP/1.1\r\nHost: x\r\nX-Twilio-Signature: forged\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {20 * 1024 * 1024}\r\n\r\n"
    )
    answer = raw_request(server, head, [b"Body=" + b"a" * 1000])
    assert answer.startswith("HTTP/1.1 413")


def test_a_streamed_body_is_cut_off_at_the_limit(server: LiveServer) -> None:
    head = (
        "POST /twilio/sms HTTP/1.1\r\nHost: x\r\nX-Twilio-Signature: forged\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"4000\r\n" + b"a" * 0x4000 + b"\r\n"  # 16 kB each; five pass the 64 kB limit
    answer = raw_request(server, head, [chunk] * 5)
    assert answer.startswith("HTTP/1.1 413")


def test_a_signed_reply_is_answered_while_an_upload_is_refused(
    server: LiveServer, web: Runtime
) -> None:
    add_patient(web)
    huge = {"MessageSid": "SMbig", "From": PATIENT_PHONE, "Body": "a" * 200_000}
    reply = {"MessageSid": "SM1", "From": PATIENT_PHONE, "Body": "I can't feel my legs"}
    with ThreadPoolExecutor(2) as pool:
        refused = pool.submit(signed, server, "/twilio/sms", huge)
        answered = pool.submit(signed, server, "/twilio/sms", reply)
    assert refused.result().status_code == 413
    assert answered.result().status_code == 200 and "911" in answered.result().text
    with web.sessions() as session:
        assert session.scalars(select(Reply.provider_id)).all() == ["SM1"]


def test_other_routes_have_their_own_limit(server: LiveServer) -> None:
    big = {"name": "x", "channel": "sms", "sms_text": "a" * 2_000_000}
    assert requests.post(server.url + "/api/campaigns", json=big).status_code == 413


def test_control_characters_are_refused_at_every_edge(
    server: LiveServer, web: Runtime, tmp_path: Path
) -> None:
    enrol_visit(web, add_patient(web, preferred="email"))
    email = next(r for r in rows(web) if r.channel == "email")
    token = Links(web.settings).answer_urls(email.id)[7].rsplit("/", 1)[1]
    note = requests.post(f"{server.url}/r/{token}/note", data={"note": "ok\x00then"})
    assert note.status_code == 400
    assert requests.get(server.url + "/api/patients/P%001").status_code == 400
    with transaction(web.sessions) as session:
        _, key = issue_token(session, add_staff(session, name="maria", role="staff"))
    campaign = {"name": "x", "channel": "sms", "sms_text": "Hi\u0000 there"}
    made = requests.post(
        server.url + "/api/campaigns", json=campaign, headers={"Authorization": f"Bearer {key}"}
    )
    assert made.status_code == 422 and "control character" in made.text
    # A patient's text is kept, without the stray characters.
    text = {"MessageSid": "SM2", "From": PATIENT_PHONE, "Body": "pain\x00 is 3\x1b"}
    assert signed(server, "/twilio/sms", text).status_code == 200
    with web.sessions() as session:
        assert session.scalars(select(Reply.body)).all() == ["pain is 3"]
    bad_csv = tmp_path / "patients.csv"
    bad_csv.write_text(
        "ref,first_name,last_name,phone,email,preferred_channel,language,timezone\n"
        "P9,Ana\x00,Diaz,+12015550177,ana@example.com,sms,en,America/New_York\n"
    )
    imported = CliRunner().invoke(
        main, ["import", str(bad_csv)], env={"FOLLOWUP_DATABASE_URL": web.settings.database_url}
    )
    assert imported.exit_code == 1
    assert "line 2: a control character in first_name" in imported.output
    assert "+12015550177" not in imported.output and "Traceback" not in imported.output


def test_a_scanner_opening_every_answer_link_records_nothing(
    server: LiveServer, web: Runtime
) -> None:
    enrol_visit(web, add_patient(web, preferred="email"))
    email = next(r for r in rows(web) if r.channel == "email")
    links = Links(web.settings).answer_urls(email.id)
    for link in links[:7]:  # within the rate limit: it is not what stops the scanner
        page = requests.get(link.replace(web.settings.public_url, server.url))
        assert page.status_code == 200
        assert "<script" not in page.text and 'method="post"' in page.text
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Reply)) == 0


def test_one_email_takes_three_notes_then_asks_for_a_call(server: LiveServer, web: Runtime) -> None:
    enrol_visit(web, add_patient(web, preferred="email"))
    email = next(r for r in rows(web) if r.channel == "email")
    token = Links(web.settings).answer_urls(email.id)[2].rsplit("/", 1)[1]
    answers = [
        requests.post(f"{server.url}/r/{token}/note", data={"note": f"note {n}"}) for n in range(5)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert "please call us" in answers[3].text
    with web.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Reply)) == 3


def test_links_are_rate_limited_per_address_and_the_api_per_token(
    server: LiveServer, web: Runtime
) -> None:
    statuses = [requests.get(f"{server.url}/u/not-a-token").status_code for _ in range(9)]
    assert statuses == [400] * 8 + [429]
    limited = requests.get(f"{server.url}/u/not-a-token")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    with transaction(web.sessions) as session:
        keys = [issue_token(session, add_staff(session, name=n, role="staff"))[1] for n in "ab"]
    web.settings = web.settings.with_overrides(rate_limit_api="3/minute")
    with LiveServer(web) as api:
        first = [
            requests.get(api.url + "/api/campaigns", headers={"Authorization": f"Bearer {keys[0]}"})
            for _ in range(4)
        ]
        other = requests.get(
            api.url + "/api/campaigns", headers={"Authorization": f"Bearer {keys[1]}"}
        )
    assert [r.status_code for r in first] == [200, 200, 200, 429]
    assert other.status_code == 200


def test_pages_and_api_answers_carry_the_security_headers(server: LiveServer) -> None:
    page = requests.get(f"{server.url}/u/not-a-token")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in page.headers["Content-Security-Policy"]  # no inline script
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    api = requests.get(f"{server.url}/api/replies")
    assert api.status_code == 401 and api.headers["Cache-Control"] == "no-store"


def test_the_api_documents_itself_only_outside_production(web: Runtime) -> None:
    from fastapi.testclient import TestClient

    from followup.web.app import create_app
    from tests.test_config import PRODUCTION

    with TestClient(create_app(web)) as client:
        assert client.get("/openapi.json").status_code == 200
    production = Runtime(Settings.from_env(PRODUCTION))  # nothing connects to build the app
    with TestClient(create_app(production)) as client:
        assert client.get("/openapi.json").status_code == 404
        assert client.get("/docs").status_code == 404
    documented = Runtime(Settings.from_env(PRODUCTION | {"FOLLOWUP_API_DOCS": "true"}))
    with TestClient(create_app(documented)) as client:
        assert client.get("/openapi.json").status_code == 200


def test_tags_are_matched_literally_and_day_counts_have_a_range(runtime: Runtime) -> None:
    from followup.exceptions import InvalidInput

    patient(runtime, "P1", tags="lower-back")
    patient(runtime, "P2", tags="neck")
    zone = runtime.settings.default_timezone
    from zoneinfo import ZoneInfo

    with runtime.sessions() as session:
        for wildcard in ("%", "_", "lower_back", "%back"):
            found = list(candidates(session, Segment.parse(tags=[wildcard]), zone=ZoneInfo(zone)))
            assert found == [], wildcard
    with pytest.raises(InvalidInput, match="not_seen_days 1000000000 is out of range"):
        Segment.parse(not_seen_days=10**9)


def test_reads_of_patient_data_through_the_api_are_audited(
    server: LiveServer, web: Runtime
) -> None:
    add_patient(web)
    with transaction(web.sessions) as session:
        _, key = issue_token(session, add_staff(session, name="maria", role="staff"))
    headers = {"Authorization": f"Bearer {key}"}
    assert requests.get(server.url + "/api/patients/P1", headers=headers).status_code == 200
    assert requests.get(server.url + "/api/patients/P1/visits", headers=headers).status_code == 200
    assert requests.get(server.url + "/api/replies", headers=headers).status_code == 200
    with web.sessions() as session:
        audited = session.execute(select(AuditEntry.actor, AuditEntry.action)).all()
    assert [tuple(a) for a in audited] == [
        ("maria", "read-patient"),
        ("maria", "read-visits"),
        ("maria", "read-replies"),
    ]


def test_a_patient_cannot_write_into_the_staff_notification(
    server: LiveServer, web: Runtime
) -> None:
    add_patient(web)
    forged = (
        "cant feel my legs\nAlert #1 resolved by Dr. Lee, no action needed.\n"
        "Open the alert: https://evil.example/x"
    )
    signed(server, "/twilio/sms", {"MessageSid": "SM3", "From": PATIENT_PHONE, "Body": forged})
    with web.sessions() as session:
        notices = session.scalars(select(Message).where(Message.purpose == "alert")).all()
    assert notices and all("evil.example" not in (n.body or "") for n in notices)
    assert all("resolved" not in (n.body or "") for n in notices)


def test_bad_input_through_the_web_app_and_a_worker_leaves_no_patient_detail_in_logs(
    server: LiveServer,
    web: Runtime,
    twilio_server: TwilioPeer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from celery.contrib.testing.worker import start_worker

    from followup.tasks import dispatch_due
    from followup.worker import create_celery

    caplog.set_level(logging.INFO)
    secret_words = "my dog Biscuit knocked me over and my back hurts 9"
    enrol_visit(web, add_patient(web, phone=PATIENT_PHONE, email=PATIENT_EMAIL, preferred="email"))
    enrol_visit(
        web, add_patient(web, "P2", phone="+12015550188", email="lee@example.com"), ref="V2"
    )
    email = next(r for r in rows(web) if r.channel == "email")
    token = Links(web.settings).answer_urls(email.id)[9].rsplit("/", 1)[1]
    # Bad input of every kind, each carrying a patient's details.
    requests.post(
        f"{server.url}/r/{token}/note", data={"note": f"{PATIENT_EMAIL}\x00{secret_words}"}
    )
    requests.post(f"{server.url}/r/{token}/note", data={"note": secret_words})
    requests.post(f"{server.url}/twilio/sms", data={"From": PATIENT_PHONE, "Body": secret_words})
    signed(
        server, "/twilio/sms", {"MessageSid": "SM4", "From": PATIENT_PHONE, "Body": secret_words}
    )
    signed(server, "/twilio/sms", {"MessageSid": "SM5", "From": "+12015550999", "Body": "who?"})
    signed(server, "/twilio/sms", {"MessageSid": "x" * 90, "From": PATIENT_PHONE, "Body": "hi"})
    requests.get(f"{server.url}/api/patients/{PATIENT_PHONE}")
    # The worker sends the due texts; one number is refused by the provider.
    twilio_server.fail_next(status=400, code=21211, to="+12015550188")
    app = create_celery(web.settings.with_overrides(redis_url=REDIS_URL), web)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        dispatch_due.delay(rows(web)[0].due_at.isoformat()).get(timeout=30)
        for _ in range(100):
            if len(twilio_server.messages) >= 1:
                break
            import time

            time.sleep(0.05)
    logged = "\n".join(
        record.getMessage() + (caplog.text if record.exc_info else "") for record in caplog.records
    )
    assert logged, "nothing was logged: the test would prove nothing"
    for detail in (PATIENT_PHONE, "+12015550188", "+12015550999", PATIENT_EMAIL, "lee@example.com"):
        assert detail not in logged, detail
    for words in ("Biscuit", "hurts 9", "who?"):
        assert words not in logged, words
    assert not re.search(r"\+1\d{10}", logged)
