"""Admin for support users, one module per area (applications, cycles, providers, users).

State changes go through the UI's actions (services), so the state machine's fields are
read-only here: an edit in the admin would skip the timeline event, the compare-and-set and
the emails.

The application list stays fast with a million rows: no full count, foreign keys as raw
ids, related rows joined in the one query, newest first on the primary key.

Every domain table is written through its services, never by the admin's own saves or
deletes: the forms validate, then ``save_model``, ``save_formset`` and ``delete_model`` /
``delete_queryset`` call the service. ``timetables.cycle_create`` / ``cycle_update`` and
``non_working_period_add`` / ``_change`` / ``_remove`` validate a cycle's dates, record each
edit as a ``CycleChange`` (shown read-only on the cycle's page) and decide whether the cycle's
live deadlines must be recalculated (a job enqueued on commit: every application whose
deadline moves gets a ``deadline_recalculated`` event on its timeline), and
``services.application_create`` makes a draft. An application's fields cannot be changed
here: its state, deadlines and chaser flags belong to the services, and its candidate,
course and cycle to the draft it was created as. Providers, their users (the inline and
their own page) and courses go through ``services.provider_*``, ``provider_user_*`` and
``course_*``; a course's provider is read-only once it exists, and the service refuses to
move it too. Deleting a provider or a course with applications is refused by the admin's
confirmation page (the foreign keys PROTECT them), before the service is called. Django's
own user model is not a domain table: users stay with Django's ``UserAdmin``.

Names go into emails, so none may hold a line break or another control character
(``apps.core.validators``): the model fields carry the validator, and the user forms add
it to the names of Django's own user model.
"""

from django.contrib import admin

from apps.applications.admin import applications, cycles, providers, users  # noqa: F401 (each registers its pages)
from apps.applications.admin.mixins import DeleteThroughServiceMixin, ReadOnlyAdminMixin  # noqa: F401

# The admin speaks the service's name, as every other page does.
admin.site.site_header = "Apply: support admin"
admin.site.site_title = "Apply admin"
admin.site.index_title = "Records and settings"
