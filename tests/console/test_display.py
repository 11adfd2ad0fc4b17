"""How the console shows times, waits, phones, languages and offices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from followup.console.display import Display, duration, language, office, phone

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 1, 19, 46, tzinfo=UTC)  # 2:46 PM in New Jersey


def test_times_are_on_the_clinic_clock_with_the_zone() -> None:
    show = Display(NEW_YORK, NOW)
    assert show.time(NOW) == "Dec 1, 2:46 PM EST"
    assert show.time(datetime(2025, 7, 4, 16, 0, tzinfo=UTC)) == "Jul 4, 2025, 12:00 PM EDT"
    assert show.date(NOW) == "Dec 1, 2026"


def test_the_patients_own_clock_only_where_it_differs() -> None:
    show = Display(NEW_YORK, NOW)
    assert show.patient_time(NOW, "America/New_York") == ""
    assert show.patient_time(NOW, "America/Los_Angeles") == "11:46 AM PST"
    assert show.clock(NOW, "America/Chicago") == "1:46 PM"


def test_ages_and_waits_read_as_people_say_them() -> None:
    show = Display(NEW_YORK, NOW)
    assert show.ago(NOW - timedelta(minutes=12)) == "12 min ago"
    assert show.ago(NOW - timedelta(seconds=20)) == "just now"
    assert show.ago(NOW - timedelta(hours=3, minutes=5)) == "3 h ago"
    assert show.ago(NOW - timedelta(days=2, hours=1)) == "2 days ago"
    assert show.ago(NOW + timedelta(minutes=75)) == "in 1 h"
    assert show.waited(NOW - timedelta(hours=1, minutes=12, seconds=30)) == "1 h 12 min"
    assert duration(timedelta(days=1, hours=2, minutes=3)) == "1 day 2 h"
    assert duration(timedelta(seconds=5)) == "0 min"


def test_phones_languages_and_offices_in_the_names_people_use() -> None:
    assert phone("+12015550111") == "(201) 555-0111"
    assert phone("+442071838750") == "+44 20 7183 8750"
    assert phone("not a number") == "not a number"
    assert phone(None) == ""
    assert language("en") == "English" and language("es") == "Spanish"
    assert language("pt-BR") == "Portuguese (Brazil)"
    assert language("zz-unknown") == "zz-unknown"
    assert office("jersey-city") == "Jersey City" and office("elsewhere") == "elsewhere"
