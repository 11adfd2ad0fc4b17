"""A campaign's name is a label; its slug is its address.

Staff name a campaign as they like ("Weehawken 12/2026 rebook"): any printable text of
at most 100 characters, no control or bidirectional-control characters. URLs, the API
and the command line address it by its id or its slug ("weehawken-12-2026-rebook"),
derived from the name once, unique and never changed, so a "/" or a "?" in a name
never reaches a path.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import select
from sqlalchemy.orm import Session

from followup.exceptions import InvalidInput, NotFound
from followup.models.campaigns import Campaign
from followup.plain_text import BIDI_CONTROLS

MAX_NAME = 100
MAX_SLUG_BASE = 100  # leaves room in the column for a "-n" suffix
# The console's own pages under /console/campaigns/: no campaign's address.
RESERVED_SLUGS = frozenset({"new", "preview"})


def valid_name(name: str) -> str:
    """The name trimmed, or `InvalidInput` saying what is wrong with it."""
    name = name.strip()
    if not name:
        raise InvalidInput("a campaign needs a name")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"a campaign name is at most {MAX_NAME} characters ({len(name)} given)")
    if BIDI_CONTROLS.search(name) or not name.isprintable():
        raise InvalidInput(
            "a campaign name may hold only printable characters "
            "(no line breaks, tabs, control or text-direction characters)"
        )
    return name


def slug_base(name: str) -> str:
    """Lower-case ASCII letters and digits joined by hyphens; never only digits (an
    address of digits is an id) nor the address of a console page ("new")."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:MAX_SLUG_BASE].strip("-")
    if not base or base.isdigit() or base in RESERVED_SLUGS:
        base = f"campaign-{base}".strip("-")
    return base


def new_slug(session: Session, name: str) -> str:
    """A slug for `name` no campaign has: the base, else the base with -2, -3, ..."""
    base = slug_base(name)
    taken = set(
        session.scalars(
            select(Campaign.slug).where(
                (Campaign.slug == base) | Campaign.slug.startswith(f"{base}-", autoescape=True)
            )
        )
    )
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def get_campaign(session: Session, ref: str) -> Campaign:
    """The campaign with slug `ref`, else id `ref` (digits), else named exactly `ref`
    (what staff type at a command line)."""
    found = session.scalar(select(Campaign).where(Campaign.slug == ref))
    if found is None and ref.isdigit() and len(ref) < 19:
        found = session.get(Campaign, int(ref))
    if found is None:
        found = session.scalar(select(Campaign).where(Campaign.name == ref.strip()))
    if found is None:
        raise NotFound(f"no campaign {ref!r} (give its id, its address or its name)")
    return found
