from django import forms

from apps.applications.models import ApplicationState

SORT_CHOICES = [("deadline", "Deadline, soonest first"), ("newest", "Newest first")]


class ApplicationFilterForm(forms.Form):
    """The list page's GET filters. Every field is optional; an unknown value is an error, not ignored."""

    state = forms.ChoiceField(choices=[("", "Any state"), *ApplicationState.choices], required=False)
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        help_text="Candidate username or email, course name or code.",
    )
    sort = forms.ChoiceField(label="Sort by", choices=SORT_CHOICES, required=False)
