"""Which characters a name may not hold, and one-line text for email headers.

A name (a provider's, a course's, a user's) ends up in email subjects and bodies, on pages
and in logs. A line break in one made every email that carried it fail for good
(BadHeaderError), so names are checked where they are entered, and subjects are made one
line when they are rendered (``one_line``), for data stored before the check.

Rejected, by Unicode category or code point:

- ``Cc``, the C0 and C1 controls and DEL: line feed, carriage return, tab, NUL, escape,
  NEL (U+0085). None belongs in a name; line breaks split an email header.
- ``Zl`` and ``Zp``, U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR: line breaks to
  Python (``splitlines``), browsers and mail clients.
- The bidirectional embeddings, overrides and isolates (U+202A to U+202E, U+2066 to
  U+2069): invisible, they reorder how the rest of a subject or a list line reads.

Other format characters (``Cf``) are allowed: the zero-width joiner and non-joiner are
part of how names are written in Persian, Hindi and other scripts, and emoji sequences.
"""

import unicodedata

from django.core.exceptions import ValidationError

BIDI_CONTROLS = frozenset(chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
#: Names for the controls Unicode leaves unnamed (``unicodedata.name`` has none for ``Cc``).
CONTROL_NAMES = {
    "\t": "a tab",
    "\n": "a line break",
    "\r": "a line break (carriage return)",
    "\x00": "a null character",
    "\x85": "a line break (next line)",
}


def is_unsafe_character(character: str) -> bool:
    """True for the characters a name may not hold (see the module docstring)."""
    return unicodedata.category(character) in ("Cc", "Zl", "Zp") or character in BIDI_CONTROLS


def _describe(character: str) -> str:
    code = f"U+{ord(character):04X}"
    name = CONTROL_NAMES.get(character)
    if name:
        return f"{name} ({code})"
    unicode_name = unicodedata.name(character, "")
    return f"the character {code} {unicode_name}" if unicode_name else f"the control character {code}"


def validate_no_control_characters(value: str) -> None:
    """Reject a value holding a line break or another control character; the message names the first."""
    for position, character in enumerate(value, start=1):
        if is_unsafe_character(character):
            raise ValidationError(
                "Remove %(character)s at position %(position)s: names must be one line of printable text.",
                code="control_character",
                params={"character": _describe(character), "position": position},
            )


def one_line(text: str) -> str:
    """``text`` as one line: every run of whitespace or unsafe characters becomes a single space; trimmed."""
    return " ".join("".join(" " if is_unsafe_character(ch) else ch for ch in text).split())
