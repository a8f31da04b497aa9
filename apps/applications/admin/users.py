"""Django's own users, with names that hold no control characters (they go into emails)."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from apps.core.validators import validate_no_control_characters


class UserNamesMixin:
    """A user form whose username and first and last names hold no control characters."""

    NAME_FIELDS = ("username", "first_name", "last_name")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.NAME_FIELDS:
            if name in self.fields:  # each form has its own copy of its fields
                self.fields[name].validators.append(validate_no_control_characters)


class UserCreationNamesForm(UserNamesMixin, AdminUserCreationForm):
    pass


class UserChangeNamesForm(UserNamesMixin, UserChangeForm):
    pass


admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class UserNamesAdmin(UserAdmin):
    form = UserChangeNamesForm
    add_form = UserCreationNamesForm
