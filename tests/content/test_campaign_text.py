"""Staff-written campaign text: hostile text is refused when saved, every branch of it;
what only a patient's data sets off fails that message with the reason, never a hang.

Nothing here is timed: a text the sandbox failed to bound would hang the test run.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from followup.content.campaign_text import LanguageText
from followup.exceptions import InvalidInput
from followup.models.campaigns import Campaign
from followup.models.outbox import Message, MessageStatus
from followup.models.staff import AuditEntry
from followup.runtime import Runtime
from tests.campaigns.test_lifecycle import NOW, launch_winter, new_campaign, patient, preview_winter
from tests.conftest import tick
from tests.peers.twilio_server import TwilioPeer

# Every test patient is called Pat; the sample render on saving uses another name.
IF_PAT = '{% if patient.first_name == "Pat" %}'
NESTED_RANGES = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"sms_text": "Hi {{ patient.diagnosis }}"}, "unknown field `patient.diagnosis`"),
        ({"sms_text": "Hi {{ name }}"}, "unknown field `name` \\(did you mean `clinic.name`\\?\\)"),
        ({"sms_text": "{{ patient.__class__.__mro__ }}"}, "unsafe|unknown"),
        (
            {"sms_text": "{{ clinic.name.__class__.__base__.__subclasses__() }}"},
            "unknown field `clinic.name.__class__`",
        ),
        ({"sms_text": "{{ (clinic.name ~ '').__class__.__mro__ }}"}, "unsafe"),
        ({"sms_text": "Your facet joint results are in."}, "facet"),
        ({"sms_text": "Keep moving! " * 30}, "segments"),
        ({"channel": "preferred"}, "English email campaign needs an email subject and text"),
        ({"sms_text": None}, "not both or neither"),
        ({"template": "keep-moving"}, "not both"),
        (
            {
                "channel": "email",
                "sms_text": None,
                "email_subject": "Your back pain",
                "email_text": "x",
            },
            "subject mentions",
        ),
        ({"rate": 0}, "rate"),
        ({"channel": "fax"}, "not sms, email or preferred"),
        # Work over the sandbox's limits.
        ({"sms_text": "{{ 9**(9**9) }}"}, "power makes a number of more than 1024 bits"),
        ({"sms_text": "{% set n = 9**9 %}{{ 9**n }}"}, "power"),
        ({"sms_text": '{{ "a"*10**8 }}'}, "repeating makes more than 10000"),
        ({"sms_text": "{{ [patient.first_name]*10**8 }}"}, "repeating"),
        ({"sms_text": "{{ 10**8*patient.first_name }}"}, "repeating"),
        ({"sms_text": NESTED_RANGES}, "more than 20000 loop steps and calls"),
        ({"sms_text": "{% for i in range(10**9) %}x{% endfor %}"}, "range\\(\\) of more than"),
        ({"sms_text": "{{ 'a'.ljust(10**9) }}"}, "ljust\\(\\) pads to more than 10000"),
        ({"sms_text": "{{ patient.first_name.center(10**9) }}"}, "center\\(\\) pads"),
        ({"sms_text": "{{ '>999999999'.format(1) }}"}, "format\\(\\) is not available"),
        ({"sms_text": "{{ '%999999999d' % 1 }}"}, "% formatting is not available"),
        (
            {"sms_text": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"},
            "^the English SMS text: a macro calls itself without end$",
        ),
        ({"sms_text": "{{ lipsum(10**6) }}"}, "unknown field `lipsum`"),
        ({"sms_text": "{{ patient.first_name|center(10**9) }}"}, "`center` is not a filter"),
        ({"sms_text": "{{ " + "9" * 5000 + " }}"}, "English SMS text: a number is too long"),
        # A branch no sample patient takes is read all the same.
        ({"sms_text": IF_PAT + "{{ 9**(9**9) }}{% endif %}Hi"}, "SMS text is refused: a power"),
        ({"sms_text": IF_PAT + "{{ 'a'*10**8 }}{% endif %}Hi"}, "repeating"),
        ({"sms_text": IF_PAT + "{% for i in range(10**6) %}{% endfor %}{% endif %}"}, "range"),
        ({"sms_text": IF_PAT + "{{ ''.__class__ }}{% endif %}Hi"}, "unsafe"),
        ({"sms_text": IF_PAT + "Your sciatica is better?{% endif %}Hi"}, "mentions sciatica"),
        ({"sms_text": "Hi {{ 'your ' ~ 'disc' if patient.first_name == 'Pat' }}"}, "disc"),
        ({"sms_text": "How is the sci" + IF_PAT + "{% endif %}atica?"}, "mentions sciatica"),
        (
            {
                "channel": "email",
                "sms_text": None,
                "email_subject": IF_PAT + "Your back{% endif %} news",
                "email_text": "x",
            },
            "email subject mentions back",
        ),
        (
            {
                "channel": "email",
                "sms_text": None,
                "email_subject": "News",
                "email_text": "{% for i in range(2000) %}Keep moving! {% endfor %}",
            },
            "^the English email text: a text of more than 10000 characters$",
        ),
    ],
)
def test_a_bad_campaign_message_is_refused_when_saved_with_the_reason(
    runtime: Runtime, overrides: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidInput, match=reason):
        new_campaign(runtime, **overrides)
    with runtime.sessions() as session:
        assert session.scalars(select(AuditEntry)).all() == []


def test_text_with_branches_loops_and_filters_still_goes_out(runtime: Runtime) -> None:
    patient(runtime, "P1")
    new_campaign(
        runtime,
        sms_text=(
            "{% macro greet(name) %}Hi {{ name|title }}{% endmacro %}{{ greet(patient.first_name) }}"
            "{% if patient.first_name|length > 12 %},{% else %}!{% endif %} {{ clinic.name }}"
            " is open {% for day in ['Sat', 'Sun'] %}{{ day }}{{ '' if loop.last else '+' }}"
            "{% endfor %} ({{ 2 * 3 }} weeks). Call {{ clinic.phone.replace('-', ' ') }}."
        ),
    )
    shown = preview_winter(runtime)
    [sample] = shown.samples
    text = sample.body
    assert text.startswith("Hi Pat! Spine & PT Clinic is open Sat+Sun (6 weeks). Call ")
    assert text.endswith(". Reply STOP to opt out.")


def test_a_limit_only_a_patient_reaches_fails_that_message_with_the_reason(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    """Nested loops behind the patient's name: saved, then refused at preview and
    recorded as a failed message at dispatch, with the reason."""
    patient(live_runtime, "P1")
    new_campaign(live_runtime, sms_text=IF_PAT + NESTED_RANGES + "{% endif %}Hi")
    with pytest.raises(InvalidInput, match="^the English SMS text: more than 20000 loop steps"):
        preview_winter(live_runtime)
    launch_winter(live_runtime)
    tick(live_runtime, NOW + timedelta(seconds=1))
    with live_runtime.sessions() as session:
        row = session.scalars(select(Message).where(Message.campaign_id.is_not(None))).one()
    assert row.status == MessageStatus.FAILED
    assert row.last_error == "the English SMS text: more than 20000 loop steps and calls"
    assert twilio_server.messages == []


FIELDS = "fields you can use: {{ patient.first_name }}, {{ clinic.name }}, {{ clinic.phone }}"
EMAIL = {"channel": "email", "sms_text": None, "email_subject": "News", "email_text": "Hi"}


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        (
            {"sms_text": "Hi {{ patient.first_name.upper }}"},
            "the English SMS text: `patient.first_name.upper` is not a field you can print "
            f"(did you mean `patient.first_name|upper`?); {FIELDS}",
        ),
        (
            {"sms_text": "Hi {{ patient }}"},
            f"the English SMS text: `patient` is not a field you can print; {FIELDS}",
        ),
        (
            {"sms_text": "Hi {{ patient.first_name.split() }}"},
            f"the English SMS text: only text and numbers can be printed, not a list; {FIELDS}",
        ),
        (
            {"texts": {"es": LanguageText(sms="Hola {{ patient.first_name.x }}")}},
            "the Spanish SMS text: unknown field `patient.first_name.x` "
            f"(did you mean `patient.first_name`?); {FIELDS}",
        ),
        (
            {"sms_text": "Hi { patient.first_name }}, rebook."},
            "the English SMS text: a brace is left over near `{ patient.first_name }}`: "
            "fields are written {{ patient.first_name }}",
        ),
        (
            EMAIL | {"email_subject": "News for {{patient.first_name}}}"},
            "the English email subject: a brace is left over near "
            "`{{patient.first_name}}}`: fields are written {{ patient.first_name }}",
        ),
        ({"sms_text": "   "}, "the English SMS text is empty"),
        ({"sms_text": "{# a note #}"}, "the English SMS text is empty"),
        (EMAIL | {"email_text": "\n \n"}, "the English email text is empty"),
        (
            {"texts": {"es": LanguageText(sms="Hola {{ patient.first_name")}},
            "the Spanish SMS text: a `{{` is not closed with `}}`",
        ),
        (
            EMAIL | {"email_text": "Hi {% if patient.first_name %}there"},
            "the English email text: a `{% if %}` is not closed with `{% endif %}`",
        ),
        (
            EMAIL | {"email_subject": "{{ clinic.name|upperr }} news"},
            "the English email subject: `upperr` is not a filter you can use "
            "(did you mean `upper`?); filters: abs, capitalize, count, d, default, first, "
            "float, int, last, length, lower, round, string, title, trim, truncate, upper, "
            "wordcount",
        ),
        (
            {"sms_text": "Hi {{ patient.first_name|truncate(5, 6, 7, 8, 9, 10) }}"},
            "the English SMS text: the filter `truncate` does not take these arguments",
        ),
    ],
)
def test_a_text_that_would_send_junk_is_refused_in_staff_s_words(
    runtime: Runtime, overrides: dict[str, object], said: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        new_campaign(runtime, **overrides)
    assert str(refused.value) == said
    with runtime.sessions() as session:
        assert session.scalars(select(Campaign)).all() == []
        assert session.scalars(select(AuditEntry)).all() == []


def test_a_text_empty_for_one_patient_is_not_sent_to_them(
    live_runtime: Runtime, twilio_server: TwilioPeer
) -> None:
    """Saved (the sample patient gets words), but Pat would get only the opt-out line."""
    patient(live_runtime, "P1")  # Pat
    new_campaign(live_runtime, sms_text='{% if patient.first_name != "Pat" %}Hi{% endif %}')
    with pytest.raises(InvalidInput, match="^the English SMS text is empty$"):
        preview_winter(live_runtime)
    launch_winter(live_runtime)
    tick(live_runtime, NOW + timedelta(seconds=1))
    with live_runtime.sessions() as session:
        row = session.scalars(select(Message).where(Message.campaign_id.is_not(None))).one()
    assert (row.status, row.last_error) == (MessageStatus.FAILED, "the English SMS text is empty")
    assert twilio_server.messages == []
