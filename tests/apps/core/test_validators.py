"""Names hold no line breaks or other control characters; one_line makes any text a header line."""

import pytest
from django.core.exceptions import ValidationError

from apps.core.validators import one_line, validate_no_control_characters


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("North\nTeach", "a line break (U+000A) at position 6"),
        ("North\rTeach", "a line break (carriage return) (U+000D)"),
        ("North\tTeach", "a tab (U+0009)"),
        ("North\x00", "a null character (U+0000)"),
        ("North\x85", "a line break (next line) (U+0085)"),
        ("North\x1b[2J", "the control character U+001B"),
        ("North\x7f", "the control character U+007F"),
        ("North\x9b", "the control character U+009B"),
        ("North\u2028Teach", "the character U+2028 LINE SEPARATOR"),
        ("North\u2029Teach", "the character U+2029 PARAGRAPH SEPARATOR"),
        ("North \u202eTeach", "the character U+202E RIGHT-TO-LEFT OVERRIDE at position 7"),
        ("North \u2066Teach", "the character U+2066 LEFT-TO-RIGHT ISOLATE"),
    ],
)
def test_a_control_character_is_rejected_with_a_message_that_names_it(value, named):
    with pytest.raises(ValidationError) as raised:
        validate_no_control_characters(value)
    [message] = raised.value.messages
    assert named in message
    assert message.endswith("names must be one line of printable text.")
    assert raised.value.error_list[0].code == "control_character"


@pytest.mark.parametrize(
    "value",
    [
        "University of Northampton",
        "Ada Lovelace-Byron, O'Neill & Co. (SCITT)",
        "Zoë Ćwikła",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian, with a zero-width non-joiner
        "\u0928\u092e\u0938\u094d\u200d\u0924\u0947",  # Devanagari, with a zero-width joiner
        "José\u00a0García",  # no-break space
        "\U0001f469\u200d\U0001f52c Science",  # an emoji sequence
    ],
)
def test_printable_names_in_any_script_are_accepted(value):
    validate_no_control_characters(value)


def test_one_line_turns_every_run_of_breaks_controls_and_spaces_into_one_space():
    assert one_line("  Offer from\r\n North\u2028\u2029Teach\x00\t: \x85Maths\u202e \n") == "Offer from North Teach : Maths"
    assert one_line("Zoë\u200cé") == "Zoë\u200cé"
