"""The console through an on-call shift, in chromium: live Alerts that keep keyboard
focus and announce only what is new, counts in the title and the navigation, a lost
session noticed at once, notices' real states, what the patient was told, answers
visible at once, one state between alerts and the inbox, closed alerts, local times,
the pain chart, and pages that fit a phone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select, update

from followup.db import transaction
from followup.models.care import Patient, Visit
from followup.models.outbox import Message, Purpose
from followup.models.replies import Reply
from followup.runtime import Runtime
from tests.browser.harness import ONCALL, WIDTHS, photograph, sign_in, text_in
from tests.conftest import tick
from tests.live_server import LiveServer
from tests.peers.twilio_server import TwilioPeer
from tests.zones import zone_where_it_is

pytestmark = pytest.mark.browser
Clinic = tuple[Runtime, LiveServer]
LOCAL_TIME = re.compile(r"[A-Z][a-z]{2} \d{1,2}, \d{1,2}:\d{2}\s[AP]M E[SD]T")


def _alert_link(alert_id: int) -> str:
    return f"/console/alerts/{alert_id}"


def test_alerts_update_in_place_keep_focus_and_announce_only_new_ones(
    browser: Browser, clinic: Clinic
) -> None:
    _, server = clinic
    text_in(server, "the pain is much worse, 9 out of 10 now", "SMf1")
    text_in(server, "I can't feel my legs", "SMf2", sender="+12015550112")
    page = browser.new_page()
    sign_in(page, server, "lee")
    expect(page).to_have_title(re.compile(r"^\(2\) Alerts"))
    expect(page.locator("[data-count=alerts]")).to_contain_text("2")
    expect(page.locator("[data-count=inbox]")).to_contain_text("2")
    # A keyboard user is on the second alert of the list (the attention one, #1).
    page.locator(f"a[href='{_alert_link(1)}']").focus()
    text_in(server, "numb groin and can't pee", "SMf3", sender="+12015550113")
    expect(page.locator("#alert-3")).to_be_visible(timeout=15_000)
    expect(page).to_have_title(re.compile(r"^\(3\) Alerts"))
    expect(page.locator("[data-count=alerts]")).to_contain_text("3")
    # Focus stayed on the same link; only the new alert was announced.
    focused = page.evaluate("() => document.activeElement.getAttribute('href')")
    assert focused == _alert_link(1)
    news = page.locator("#alerts-news").inner_text()
    assert "#3" in news and "#1" not in news and "#2" not in news
    # The row reads in the clinic's words: waiting time, notices, a phone to tap.
    row = page.locator("#alert-3")
    expect(row).to_contain_text(re.compile(r"\d+ min"))
    expect(row).to_contain_text("notice queued, not sent yet")
    expect(row.locator("a[href='tel:+12015550113']")).to_have_text("(201) 555-0113")
    # Every page carries the counts.
    page.goto(f"{server.url}/console/patients")
    expect(page).to_have_title(re.compile(r"^\(3\) Patients"))
    page.close()


def test_a_refused_refresh_says_signed_out_at_once(browser: Browser, clinic: Clinic) -> None:
    _, server = clinic
    context = browser.new_context()
    alerts, other_tab = context.new_page(), context.new_page()
    sign_in(alerts, server, "lee")
    expect(alerts.get_by_role("heading", name="Open alerts")).to_be_visible()
    notice = alerts.locator("#session-notice")
    expect(notice).to_be_hidden()
    other_tab.goto(f"{server.url}/console/inbox")
    other_tab.get_by_role("button", name="Sign out").click()
    # The next refresh (every 3 s) is refused: the page says so instead of going stale.
    expect(notice).to_be_visible(timeout=8_000)
    expect(notice).to_have_text("Signed out — sign in again.")
    expect(notice.get_by_role("link", name="sign in again")).to_have_attribute(
        "href", "/console/login?next=/console/"
    )
    context.close()


def test_sound_and_desktop_notice_once_the_member_allows_them(
    browser: Browser, clinic: Clinic
) -> None:
    _, server = clinic
    context = browser.new_context(permissions=["notifications"])
    # Record what the page shows through the real Notification API.
    context.add_init_script(
        """(() => {
          const Real = window.Notification;
          window.shown = [];
          window.Notification = class extends Real {
            constructor(title, options) { super(title, options); window.shown.push([title, options.body]); }
          };
          window.Notification.requestPermission = Real.requestPermission.bind(Real);
        })();"""
    )
    page = context.new_page()
    sign_in(page, server, "lee")
    cues = page.get_by_role("button", name=re.compile("Sound and desktop notice"))
    expect(cues).to_have_attribute("aria-pressed", "false")
    text_in(server, "I can't feel my legs", "SMn0")
    expect(page.locator("#alert-1")).to_be_visible(timeout=15_000)
    assert page.evaluate("() => window.shown") == []  # off until the member turns it on
    cues.click()
    expect(cues).to_have_attribute("aria-pressed", "true")
    text_in(server, "numb groin and can't pee", "SMn1", sender="+12015550112")
    expect(page.locator("#alert-2")).to_be_visible(timeout=15_000)
    shown = page.evaluate("() => window.shown")
    assert shown == [["New emergency alert", "Alert #2: open the console"]]  # no name
    context.close()


def test_the_alert_shows_each_notice_and_what_the_patient_was_told(
    browser: Browser, clinic: Clinic, twilio_server: TwilioPeer
) -> None:
    runtime, server = clinic
    text_in(server, "I can't feel my legs and lost bladder control", "SMt1")
    page = browser.new_page()
    sign_in(page, server, "maria")
    page.goto(f"{server.url}/console/alerts/1")
    expect(page.get_by_test_id("told")).to_have_text("notice queued, not sent yet")
    expect(page.locator("ul.notices")).to_contain_text("queued")
    # Local times on the clinic's clock, and the wait in hours and minutes.
    expect(page.get_by_text(re.compile(r"^Raised "))).to_contain_text(LOCAL_TIME)
    expect(page.get_by_test_id("waiting")).to_have_text(re.compile(r"^\d+ min$"))
    # The patient's name leads to the patient; the phone is a tel: link in US format.
    expect(page.get_by_role("link", name="Pat Doe")).to_have_attribute(
        "href", "/console/patients/P1"
    )
    expect(page.get_by_role("link", name="(201) 555-0111")).to_have_attribute(
        "href", "tel:+12015550111"
    )
    # The automatic answer is there, marked, and promises only what was done.
    auto = page.locator("ol.thread li.auto")
    expect(auto).to_contain_text("automatic")
    expect(auto).to_contain_text("Call 911")
    expect(auto).to_contain_text("We are also notifying our on-call staff.")
    with runtime.sessions() as session:
        notice = session.scalars(select(Message).where(Message.purpose == Purpose.ALERT)).one()
    tick(runtime, notice.due_at + timedelta(seconds=1))
    assert twilio_server.bodies_to(ONCALL)
    page.reload()
    expect(page.get_by_test_id("told")).to_have_text(re.compile(r"^on-call told"))
    expect(page.locator("ul.notices .badge")).to_have_text(re.compile("sent|delivered"))
    photograph(page, "alert-front-desk")
    # A notice the provider refuses reads as failed, and nobody is "told".
    twilio_server.fail_next(status=400, code=21211, to=ONCALL)
    text_in(server, "numb groin and can't pee", "SMt2", sender="+12015550112")
    with runtime.sessions() as session:
        second = session.scalars(
            select(Message).where(Message.purpose == Purpose.ALERT, Message.alert_id == 2)
        ).one()
    tick(runtime, second.due_at + timedelta(seconds=1))
    page.goto(f"{server.url}/console/alerts/2")
    expect(page.get_by_test_id("told")).to_have_text("notice failed: nobody told")
    page.goto(f"{server.url}/console/alerts")
    expect(page.locator("#alert-2")).to_contain_text("notice failed: nobody told")
    expect(page.locator("#alert-1")).to_contain_text("on-call told")
    page.close()


def test_an_answer_shows_at_once_with_when_it_goes_and_a_repeat_asks_first(
    browser: Browser, clinic: Clinic
) -> None:
    runtime, server = clinic
    night = zone_where_it_is(2, datetime.now(UTC))  # the patient's quiet hours
    with transaction(runtime.sessions) as session:
        session.execute(update(Patient).where(Patient.ref == "P2").values(timezone=night))
    page = browser.new_page()
    sign_in(page, server, "maria")
    page.goto(f"{server.url}/console/patients/P2/conversation")
    page.get_by_label("Your answer (no diagnosis in a text)").fill("Your visit moved to Friday.")
    page.get_by_role("button", name="Send").click()
    confirmation = page.get_by_test_id("answer-confirmation")
    expect(confirmation).to_contain_text("queued")
    expect(confirmation).to_contain_text(re.compile(r"goes out at 8:00 AM patient's time"))
    entry = page.locator("ol.thread li.out", has_text="Your visit moved to Friday.")
    expect(entry).to_contain_text("queued")
    expect(entry).to_contain_text("goes out at 8:00 AM patient's time")
    photograph(page, "conversation-queued")
    # The same words again: asked first, and nothing queued until confirmed.
    page.get_by_label("Your answer (no diagnosis in a text)").fill("Your visit moved to Friday.")
    page.get_by_role("button", name="Send", exact=True).click()
    warning = page.get_by_test_id("repeat-warning")
    expect(warning).to_contain_text("The same answer was already queued")

    def answers() -> int:
        with runtime.sessions() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(Message)
                    .where(Message.purpose == Purpose.ANSWER)
                )
                or 0
            )

    assert answers() == 1
    warning.get_by_role("button", name="Send it again").click()
    expect(page.get_by_test_id("answer-confirmation")).to_be_visible()
    assert answers() == 2
    page.close()


def test_acknowledging_handles_the_reply_and_closed_alerts_keep_their_history(
    browser: Browser, clinic: Clinic
) -> None:
    runtime, server = clinic
    text_in(server, "I can't feel my legs", "SMa1")
    text_in(server, "thanks, all good", "SMa2", sender="+12015550112")
    desk = browser.new_page()
    sign_in(desk, server, "maria")
    desk.goto(f"{server.url}/console/inbox")
    emergency = desk.locator("ul.inbox li.emergency")
    expect(emergency).to_contain_text("handled through alert #1")
    expect(emergency.get_by_role("button", name=re.compile("Mark handled"))).to_have_count(0)
    expect(
        desk.locator("ul.inbox li.routine").get_by_role("button", name=re.compile("Mark"))
    ).to_have_count(1)
    # Each filter's label keeps its distance from the control before it.
    gaps = desk.evaluate(
        """() => [...document.querySelectorAll("form.filters .field")].slice(1).map((field) => {
             const before = field.previousElementSibling.getBoundingClientRect();
             const mine = field.getBoundingClientRect();
             return mine.top >= before.bottom - 1 ? 99 : mine.left - before.right;
           })"""
    )
    assert gaps and min(gaps) >= 8, gaps
    clinician = browser.new_page()
    sign_in(clinician, server, "lee")
    clinician.goto(f"{server.url}/console/alerts/1")
    clinician.get_by_label("What you did (optional)").fill("Called, sent to the ER")
    clinician.get_by_role("button", name="Acknowledge").click()
    expect(clinician.get_by_text("Acknowledged by lee")).to_be_visible()
    desk.reload()
    expect(desk.locator("ul.inbox li.emergency")).to_contain_text("handled by lee")
    clinician.goto(f"{server.url}/console/alerts")
    expect(clinician.get_by_text("No open alerts.")).to_be_visible()
    clinician.get_by_role("link", name="Closed alerts").click()
    expect(clinician.locator("tbody tr")).to_have_count(1)
    clinician.get_by_label("Level").select_option("attention")
    clinician.get_by_role("button", name="Filter").click()
    expect(clinician.get_by_text("No closed alerts match.")).to_be_visible()
    clinician.get_by_label("Level").select_option("emergency")
    clinician.get_by_label("Acknowledged by").select_option("lee")
    # The filter reads days on the clinic's clock, not the machine's.
    today = datetime.now(ZoneInfo(runtime.settings.clinic_timezone)).date().isoformat()
    clinician.get_by_label("Raised from").fill(today)
    clinician.get_by_role("button", name="Filter").click()
    expect(clinician.locator("tbody tr")).to_have_count(1)
    photograph(clinician, "alerts-closed")
    clinician.get_by_role("link", name=re.compile(r"^#1")).click()
    expect(clinician.get_by_role("listitem").filter(has_text="acknowledged")).to_contain_text(
        "Called, sent to the ER"
    )
    desk.close()
    clinician.close()


def test_the_pain_chart_has_dates_labels_apart_a_table_and_reads_on_a_phone(
    browser: Browser, clinic: Clinic
) -> None:
    runtime, server = clinic
    now = datetime.now(UTC)
    with transaction(runtime.sessions) as session:
        patient = session.scalars(select(Patient).where(Patient.ref == "P1")).one()
        for day, pain in ((12, 6), (10, 5), (7, 7), (4, 4), (1, 3)):
            session.add(
                Reply(
                    provider_id=f"SMc{day}",
                    channel="sms",
                    from_address="+12015550111",
                    patient_id=patient.id,
                    body=f"pain {pain}",
                    pain=pain,
                    triage="routine",
                    received_at=now - timedelta(days=day),
                )
            )
        # Two visits a day apart: their labels would collide on one row.
        for ref, day in (("V10", 9), ("V11", 8)):
            session.add(
                Visit(
                    ref=ref,
                    patient_id=patient.id,
                    episode_id=session.scalar(select(Visit.episode_id).where(Visit.ref == "V1")),
                    office="hoboken",
                    clinician="Dr. Lee",
                    plan="lower-back",
                    visited_at=now - timedelta(days=day),
                )
            )
    page = browser.new_page()
    sign_in(page, server, "lee")
    page.goto(f"{server.url}/console/patients/P1")
    chart = page.get_by_role("img", name=re.compile("Pain scores over time"))
    expect(chart).to_be_visible()
    expect(chart.locator("text.date").first).to_have_text(re.compile(r"^[A-Z][a-z]{2} \d{1,2}$"))
    # Raw values in the words people use.
    expect(page.get_by_text(re.compile(r"Hoboken, Dr\. Lee")).first).to_be_visible()
    expect(page.get_by_text("English")).to_be_visible()
    expect(page.get_by_role("link", name="(201) 555-0111")).to_be_visible()
    page.get_by_text(re.compile(r"^Scores as a table")).click()
    table = page.get_by_role("table", name="Pain scores")
    expect(table.locator("tbody tr")).to_have_count(5)

    def overlaps() -> list[str]:
        return page.evaluate(
            """() => {
              const boxes = [...document.querySelectorAll("svg.chart text")]
                .map((t) => [t.textContent, t.getBoundingClientRect()]);
              const hits = [];
              boxes.forEach(([a, p], i) => boxes.slice(i + 1).forEach(([b, q]) => {
                if (p.left < q.right && q.left < p.right && p.top < q.bottom && q.top < p.bottom)
                  hits.push(a + " / " + b);
              }));
              return hits;
            }"""
        )

    assert overlaps() == []
    page.set_viewport_size(WIDTHS["phone"])
    assert overlaps() == []
    smallest = page.evaluate(
        """() => Math.min(...[...document.querySelectorAll("svg.chart text")]
             .map((t) => t.getBoundingClientRect().height))"""
    )
    assert smallest >= 10, f"chart text is {smallest:.1f} px high at phone width"
    photograph(page, "patient-pain")
    page.close()


def test_tables_at_phone_width_reflow_or_scroll_visibly(browser: Browser, clinic: Clinic) -> None:
    _, server = clinic
    text_in(server, "I can't feel my legs", "SMw1")
    page = browser.new_page(viewport=WIDTHS["phone"])
    sign_in(page, server, "ana")
    width = WIDTHS["phone"]["width"]
    # Alerts reflow into one card per alert: nothing runs off the page.
    expect(page.locator("#alert-1")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    notices = page.locator("#alert-1 td[data-label=Notices]").bounding_box()
    assert notices is not None and notices["x"] + notices["width"] <= width
    # Staff reflows too: every button on the page, none cut off.
    page.goto(f"{server.url}/console/staff")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    rights = page.evaluate(
        "() => [...document.querySelectorAll('td.actions button')]"
        ".map((b) => b.getBoundingClientRect().right)"
    )
    assert rights and max(rights) <= width
    # A wide table scrolls inside its box, which takes the keyboard and shows a cue.
    page.goto(f"{server.url}/console/patients/P1")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    box = page.locator(".table-scroll", has=page.get_by_role("columnheader", name="Due"))
    assert box.evaluate("(b) => b.scrollWidth > b.clientWidth")
    assert box.get_attribute("tabindex") == "0"
    assert "gradient" in box.evaluate("(b) => getComputedStyle(b).backgroundImage")
    page.close()


def test_sign_in_keeps_the_name_and_setting_a_password_is_confirmed(
    browser: Browser, clinic: Clinic
) -> None:
    _, server = clinic
    page = browser.new_page()
    sign_in(page, server, "maria", "not the password")
    expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
    expect(page.get_by_label("Name")).to_have_value("maria")
    expect(page.get_by_label("Password")).to_be_focused()
    sign_in(page, server, "ana")
    page.goto(f"{server.url}/console/staff")
    page.get_by_label("Name", exact=True).fill("nina")
    page.get_by_role("button", name="Add").click()
    link = page.get_by_test_id("set-password-link").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.goto(link)
    page.get_by_label("New password").fill("a long enough password")
    page.get_by_label("Again").fill("a long enough password")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status")).to_have_text("Your password is set. Sign in with it now.")
    sign_in(page, server, "nina", "a long enough password")
    expect(page.get_by_role("heading", name="Open alerts")).to_be_visible()
    page.close()
