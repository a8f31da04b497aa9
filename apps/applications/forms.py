from django import forms

from apps.applications.models import ApplicationState
from apps.applications.selectors import SEARCH_MIN_RUN, SEARCH_MIN_RUN_PATTERN, Cursor

SORT_CHOICES = [("deadline", "Deadline, soonest first"), ("newest", "Newest first")]
BAD_CURSOR = "This page link is not valid or is out of date. Start again from the first page."


class Select(forms.Select):
    """Django's select with its options written inline rather than one included template each:
    the filter form is on every list page, and each of its 16 options was a template render."""

    template_name = "applications/widgets/select.html"


class ApplicationFilterForm(forms.Form):
    """The list page's GET filters and its page cursor. Every field is optional; an unknown value is an error."""

    state = forms.ChoiceField(
        choices=[("", "Any state"), *ApplicationState.choices], required=False, widget=Select,
        error_messages={"invalid_choice": "Choose a state from the list (“%(value)s” is not one)."},
    )
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        help_text="Candidate username or email, course name or code.",
        error_messages={
            "max_length": "Enter at most %(limit_value)d characters (this has %(show_value)d).",
            "null_characters_not_allowed": "Enter letters, numbers and punctuation only.",
        },
    )
    sort = forms.ChoiceField(
        label="Sort by", choices=SORT_CHOICES, required=False, widget=Select,
        error_messages={"invalid_choice": "Choose an order from the list (“%(value)s” is not one)."},
    )
    # Not one of the filters on the page: Next and Previous links carry it, a new search drops it.
    cursor = forms.CharField(
        label="Page",
        required=False,
        max_length=200,
        widget=forms.HiddenInput,
        error_messages={"max_length": BAD_CURSOR},
    )

    def clean_q(self):
        query = self.cleaned_data["q"]
        if query and not SEARCH_MIN_RUN_PATTERN.search(query):
            raise forms.ValidationError(
                f"Enter at least {SEARCH_MIN_RUN} letters or numbers in a row, for example part of a name.",
                code="too_short",
            )
        return query

    def clean_sort(self):
        return self.cleaned_data["sort"] or "deadline"

    def clean_cursor(self):
        token = self.cleaned_data["cursor"]
        if not token:
            return None
        try:
            return Cursor.decode(token)
        except ValueError:
            raise forms.ValidationError(BAD_CURSOR, code="invalid") from None

    def clean(self):
        cleaned = super().clean()
        cursor, sort = cleaned.get("cursor"), cleaned.get("sort")
        if cursor is not None and sort is not None and cursor.sort != sort:
            self.add_error("cursor", forms.ValidationError(BAD_CURSOR, code="other_sort"))
        return cleaned
