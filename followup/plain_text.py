"""What text from people and files may contain.

Tabs and line breaks are text; NUL and the other C0 and DEL control characters are
not. They have no use in a name, a note or a campaign, PostgreSQL cannot store NUL,
and in a log or a terminal they can hide or forge what follows. People's input with
one is refused with a clear error; a patient's text message, which must never be
lost, has them removed instead.

Unicode's bidirectional controls (embeddings, overrides, isolates and the direction
marks) are kept as received, but never shown: a U+202E in a patient's text or an
imported name would reverse what staff read after it. Every page and staff message
neutralises them when it renders a value.
"""

from __future__ import annotations

import re

from followup.exceptions import InvalidInput

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def plain(value: str, field: str) -> str:
    """`value` if it holds no control character; else `InvalidInput` naming `field`."""
    if CONTROL_CHARACTERS.search(value):
        raise InvalidInput(f"{field} contains a control character")
    return value


def without_control_characters(value: str) -> str:
    return CONTROL_CHARACTERS.sub("", value)


def without_bidi_controls(value: str) -> str:
    return BIDI_CONTROLS.sub("", value)
