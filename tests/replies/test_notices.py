"""An alert says "told" only once a notice has left."""

from __future__ import annotations

from datetime import UTC, datetime

from followup.replies.notices import Notice, told

AT = datetime(2026, 12, 1, 19, 0, tzinfo=UTC)


def notice(status: str) -> Notice:
    return Notice(1, "sms", "+12015550900", status, AT, None, None)


def test_told_follows_what_really_happened_to_the_notices() -> None:
    assert told([]) == "nobody notified"
    assert told([notice("scheduled")]) == "notice queued, not sent yet"
    assert told([notice("queued"), notice("unknown")]) == "notice queued, not sent yet"
    assert told([notice("failed"), notice("undelivered")]) == "notice failed: nobody told"
    assert told([notice("failed"), notice("sent")]) == "on-call told (sent)"
    assert told([notice("delivered"), notice("queued")]) == "on-call told (delivered)"
    assert [notice(s).state for s in ("scheduled", "sending", "unknown", "skipped")] == [
        "queued",
        "queued",
        "unconfirmed",
        "failed",
    ]
