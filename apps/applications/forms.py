from django import forms
from django.utils.safestring import SafeString

from apps.applications.models import ApplicationState
from apps.applications.selectors import SEARCH_MIN_RUN, SEARCH_MIN_RUN_PATTERN, Cursor

SORT_CHOICES = [("deadline", "Deadline, soonest first"), ("newest", "Newest first")]
BAD_CURSOR = "This page link is not valid or is out of date. Start again from the first page."


#: Most widget renders kept (key: widget class, name, value, attributes, choices); the list
#: page's filter form renders the same few fields on every page view.
RENDERED_WIDGETS_KEPT = 512
_rendered_widgets: dict[tuple, SafeString] = {}


class RenderedOnce:
    """A widget whose HTML is rendered once per process for each (name, value, attributes,
    choices): the same inputs give the same HTML, and Django renders a widget through its
    template engine (about 0.6 ms a widget, three on every list page). The choices are part
    of the key, so a form that changes them gets its own HTML; at most RENDERED_WIDGETS_KEPT
    renders are kept (a search box's values are whatever people type)."""

    def render(self, name, value, attrs=None, renderer=None):
        key = (
            type(self), type(renderer), name, repr(value), repr(sorted((attrs or {}).items())),
            repr(sorted(self.attrs.items())), repr(getattr(self, "choices", None)),
        )
        html = _rendered_widgets.get(key)
        if html is None:
            html = super().render(name, value, attrs, renderer)
            if len(_rendered_widgets) >= RENDERED_WIDGETS_KEPT:
                _rendered_widgets.clear()
            _rendered_widgets[key] = html
        return html


class Select(RenderedOnce, forms.Select):
    """Django's select with its options written inline rather than one included template each,
    rendered once per value (``RenderedOnce``)."""

    template_name = "applications/widgets/select.html"


class TextInput(RenderedOnce, forms.TextInput):
    pass


class HiddenInput(RenderedOnce, forms.HiddenInput):
    pass


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
        widget=TextInput,
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
        widget=HiddenInput,
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
