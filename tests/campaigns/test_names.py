"""A campaign's name is a label, its slug its address."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from followup.campaigns.names import get_campaign, slug_base, valid_name
from followup.campaigns.segments import Segment
from followup.exceptions import InvalidInput, NotFound
from followup.models.campaigns import Campaign
from followup.runtime import Runtime
from tests.campaigns.test_languages import shown
from tests.campaigns.test_lifecycle import new_campaign, patient


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Weehawken 12/2026 rebook", "weehawken-12-2026-rebook"),
        ("  Año nuevo: ¿vuelve? ", "ano-nuevo-vuelve"),
        ("2026", "campaign-2026"),
        ("///", "campaign"),
        ("New", "campaign-new"),  # /console/campaigns/new is the builder
        ("preview", "campaign-preview"),
    ],
)
def test_a_slug_is_letters_digits_and_hyphens_never_only_digits(name: str, slug: str) -> None:
    assert slug_base(name) == slug


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "needs a name"),
        ("x" * 101, "at most 100 characters \\(101 given\\)"),
        ("rebook\nnow", "only printable"),
        ("rebook\u202eredliah", "only printable"),
        ("zero\u200bwidth", "only printable"),
    ],
)
def test_a_name_that_could_hide_or_break_something_is_refused(name: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        valid_name(name)


def test_campaigns_are_found_by_slug_id_or_name_and_slugs_stay_unique(runtime: Runtime) -> None:
    first = new_campaign(runtime, name="Weehawken 12/2026 rebook")
    second = new_campaign(runtime, name="Weehawken 12-2026 rebook")
    with runtime.sessions() as session:
        slugs = [session.get_one(Campaign, c).slug for c in (first, second)]
        assert slugs == ["weehawken-12-2026-rebook", "weehawken-12-2026-rebook-2"]
        assert get_campaign(session, "weehawken-12-2026-rebook-2").id == second
        assert get_campaign(session, str(first)).id == first
        assert get_campaign(session, "Weehawken 12/2026 rebook").id == first
        with pytest.raises(NotFound, match="give its id, its address or its name"):
            get_campaign(session, "nothing")


def test_names_that_differ_only_in_case_are_one_name(runtime: Runtime) -> None:
    new_campaign(runtime, name="Winter rebook")
    for again in ("winter rebook", "WINTER REBOOK "):
        with pytest.raises(InvalidInput, match="a campaign named 'Winter rebook' exists"):
            new_campaign(runtime, name=again)
    with runtime.sessions() as session:
        assert session.scalars(select(Campaign.name)).all() == ["Winter rebook"]


def test_a_campaign_reaching_nobody_says_why(runtime: Runtime) -> None:
    for n in range(1, 6):
        patient(runtime, f"P{n}", campaign={})  # the demo's patients: never asked
    result = shown(runtime, new_campaign(runtime))
    assert result.total == 0
    assert result.explanation() == (
        "0 recipients: none of the 5 patients in this segment has campaign consent on "
        "record (never asked); record it on each patient's page or in the import's "
        "campaign consent columns"
    )
    assert shown(
        runtime, new_campaign(runtime, name="nobody", segment=_nobody())
    ).explanation() == ("0 recipients: no patient matches this segment")


def _nobody():  # type: ignore[no-untyped-def]

    return Segment.parse(tags=["no-such-tag"])
