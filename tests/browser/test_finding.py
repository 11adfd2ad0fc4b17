"""Finding patients and paging lists in a real browser, as the front desk does it: by
keyboard, two patients of one name told apart, a long list walked page by page with
its filters kept, the inbox assigned without a select per reply; axe-clean."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from followup.runtime import Runtime
from tests.browser.harness import photograph, sign_in, text_in
from tests.browser.test_accessibility import violations
from tests.console.test_finding import add_smiths, smith_born
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser


def tab_to(page: Page, name: str, *, most: int = 60) -> None:
    """Press Tab until the focused element's text or label holds `name`."""
    for _ in range(most):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => (document.activeElement.innerText || document.activeElement.ariaLabel"
            " || (document.activeElement.labels && document.activeElement.labels[0]"
            " && document.activeElement.labels[0].innerText) || '')"
        )
        if name in focused:
            return
    raise AssertionError(f"no {name!r} within {most} tabs")


def test_the_front_desk_finds_and_tells_apart_patients_by_keyboard(
    browser: Browser, clinic: tuple[Runtime, LiveServer]
) -> None:
    runtime, server = clinic
    add_smiths(runtime, 62, {10, 40})
    page = browser.new_page()
    sign_in(page, server, "maria")
    page.goto(f"{server.url}/console/patients")
    # The search box has the focus: type as the caller spells it, without the accent.
    expect(page.get_by_role("searchbox")).to_be_focused()
    page.keyboard.type("smith, sofia")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("2 patients")
    rows = page.locator("table.found tbody tr")
    expect(rows).to_have_count(2)
    for n in (10, 40):
        expect(rows.filter(has_text=f"S-0{n}")).to_contain_text(f"ending 00{n}")
        expect(rows.filter(has_text=f"S-0{n}")).to_contain_text(smith_born(n).strftime("%m/%d/%Y"))
    assert violations(page) == []
    photograph(page, "patients-found")
    # By phone as written on a form, then by date of birth.
    page.get_by_label(re.compile("^Name, reference")).fill("(201) 555-0040")
    page.keyboard.press("Enter")
    expect(page.locator("table.found tbody tr")).to_have_count(1)
    page.get_by_label(re.compile("^Name, reference")).fill(smith_born(10).strftime("%m/%d/%Y"))
    page.keyboard.press("Enter")
    expect(page.locator("table.found tbody tr")).to_contain_text("Smith, Sofía")
    # A long list: the count, then Next and Previous by keyboard, the search kept.
    page.get_by_label(re.compile("^Name, reference")).fill("smith")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("62 patients, showing 1–50")
    tab_to(page, "Next patients")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("62 patients, showing 51–62")
    expect(page).to_have_url(re.compile(r"q=smith"))
    expect(page.locator("table.found tbody tr")).to_have_count(12)
    tab_to(page, "Previous patients")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("62 patients, showing 1–50")
    # An edited page link is refused plainly, not with a server error.
    answer = page.goto(f"{server.url}/console/patients?q=smith&cursor=edited")
    assert answer is not None and answer.status == 400
    page.close()


def test_the_inbox_pages_keeps_its_filter_and_assigns_by_keyboard(
    browser: Browser, clinic: tuple[Runtime, LiveServer]
) -> None:
    _, server = clinic
    for n in range(53):
        text_in(server, f"doing fine today, number {n}", f"SMf{n}")
    page = browser.new_page()
    sign_in(page, server, "maria")
    page.goto(f"{server.url}/console/inbox?handled=no")
    summary = page.get_by_role("status").first
    expect(summary).to_contain_text("replies, showing 1–50")
    assert violations(page) == []
    # Assign the first reply to me: type in its box (the shared list offers the names).
    box = page.get_by_label(re.compile(r"^Assign reply \d+ to$")).first
    box.focus()
    page.keyboard.type("maria")
    page.keyboard.press("Tab")  # to its Assign button
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console/inbox\?handled=no"))
    page.get_by_label("assigned to me").check()
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("status").first).to_have_text("1 reply")
    page.goto(f"{server.url}/console/inbox?handled=no")
    tab_to(page, "Next replies")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"handled=no"))
    expect(page.get_by_role("status").first).to_contain_text("showing 51–")
    page.close()
