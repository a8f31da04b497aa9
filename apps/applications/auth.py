"""Authentication backend: Django's, loading the signed-in user with their provider membership."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class UserWithProviderBackend(ModelBackend):
    """Every page asks who the user is and which provider they belong to (the navigation,
    the lists' visibility): one query per request instead of three."""

    def get_user(self, user_id):
        user_model = get_user_model()
        try:
            user = user_model._default_manager.select_related("provider_user__provider").get(pk=user_id)
        except user_model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
