"""An export and a dangerous click, in chromium (issue 22): the inbox's Export CSV
downloads the replies its filters show, and Disable asks first on a page of its own."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from followup.models.staff import StaffMember
from followup.runtime import Runtime
from tests.browser.harness import sign_in, text_in
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser
Clinic = tuple[Runtime, LiveServer]


def test_the_inbox_exports_the_replies_its_filters_show(browser: Browser, clinic: Clinic) -> None:
    _, server = clinic
    text_in(server, "doing fine, thanks José", "SMe1")
    text_in(server, '=HYPERLINK("http://x.example") who is this', "SMe2", sender="+12015550999")
    page = browser.new_page(accept_downloads=True)
    sign_in(page, server, "maria")
    page.goto(f"{server.url}/console/inbox")
    page.get_by_label("unknown numbers only").check()
    page.get_by_role("button", name="Filter").click()
    link = page.get_by_role("link", name=re.compile("^Export CSV"))
    expect(link).to_have_attribute("href", "/console/inbox.csv?unknown=yes")
    with page.expect_download() as download:
        link.click()
    today = datetime.now(UTC).astimezone(ZoneInfo("America/New_York")).date()
    assert download.value.suggested_filename == f"replies-{today.isoformat()}.csv"
    content = Path(download.value.path()).read_text(encoding="utf-8")
    assert content.startswith("\ufeff")
    assert "'=HYPERLINK" in content and "José" not in content  # the filter went along
    page.close()


def test_disable_asks_first_and_cancel_changes_nothing(browser: Browser, clinic: Clinic) -> None:
    runtime, server = clinic
    page = browser.new_page()
    sign_in(page, server, "ana")
    page.goto(f"{server.url}/console/staff")
    own = page.get_by_role("row", name=re.compile("^ana"))
    expect(own.get_by_role("link", name=re.compile("Disable"))).to_have_count(0)
    expect(own).to_contain_text("another admin can disable you")
    page.get_by_role("link", name="Disable… maria").click()
    expect(page.get_by_role("heading", name="Disable maria?")).to_be_visible()
    expect(page.get_by_test_id("consequences")).to_contain_text("signed out of the console")
    page.get_by_role("link", name="No, go back").click()
    expect(page.get_by_role("heading", name="Staff", exact=True)).to_be_visible()

    def disabled() -> bool:
        with runtime.sessions() as session:
            found = session.scalar(select(StaffMember).where(StaffMember.name == "maria"))
            return found is not None and found.disabled_at is not None

    assert not disabled()
    page.get_by_role("link", name="Disable… maria").click()
    page.get_by_role("button", name="Disable maria").click()
    expect(page.get_by_role("row", name=re.compile("^maria"))).to_contain_text("(disabled)")
    assert disabled()
    page.close()
