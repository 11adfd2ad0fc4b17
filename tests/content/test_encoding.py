from followup.content.encoding import sms_shape


def test_plain_text_is_gsm7_single_segment_up_to_160() -> None:
    assert sms_shape("a" * 160).segments == 1
    assert sms_shape("a" * 161).segments == 2
    assert sms_shape("a" * 306).segments == 2
    assert sms_shape("a" * 307).segments == 3
    assert sms_shape("a" * 160).encoding == "GSM-7"


def test_extension_characters_count_twice() -> None:
    shape = sms_shape("€" * 80)
    assert (shape.encoding, shape.units, shape.segments) == ("GSM-7", 160, 1)
    assert sms_shape("[" * 81).segments == 2


def test_curly_quote_forces_ucs2_and_names_the_culprit() -> None:
    shape = sms_shape("It’s time" + "a" * 61)
    assert shape.encoding == "UCS-2"
    assert shape.non_gsm == "’"
    assert shape.segments == 1
    assert sms_shape("’" + "a" * 70).segments == 2


def test_emoji_counts_as_two_ucs2_units() -> None:
    assert sms_shape("🙂").units == 2
