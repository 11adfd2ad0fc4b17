"""Fixtures of the browser tests (tests/browser/harness.py): one chromium for the package."""

from tests.browser.harness import browser, clinic

__all__ = ["browser", "clinic"]
