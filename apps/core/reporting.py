"""What error reports (the DEBUG page, error emails) may show: no credentials.

Django's filter hides settings by name (``*PASSWORD*``, ``*SECRET*``...), but not
``DATABASE_URL``, ``REDIS_URL`` or the URLs inside ``DATABASES``, ``RQ_QUEUES`` and
``CACHES``, nor the same URLs in ``request.META`` (the development server copies the
environment there) and in the traceback's local variables.
"""

import re

from django.views.debug import SafeExceptionReporterFilter

# scheme://user:password@ or scheme://:password@ or scheme://token@ (the userinfo part).
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^\s/@]+)@")


class CredentialsHidingExceptionReporterFilter(SafeExceptionReporterFilter):
    def cleanse_setting(self, key, value):
        return self._without_credentials(super().cleanse_setting(key, value))

    def cleanse_special_types(self, request, value):
        return self._without_credentials(super().cleanse_special_types(request, value))

    def _without_credentials(self, value):
        """The value with the userinfo of any URL in it replaced, looking into containers."""
        try:
            if isinstance(value, str):
                return _URL_USERINFO.sub(rf"\g<scheme>{self.cleansed_substitute}@", value)
            if type(value) is dict:
                return {
                    name: self.cleansed_substitute
                    if isinstance(name, str) and self.hidden_settings.search(name)
                    else self._without_credentials(item)
                    for name, item in value.items()
                }
            if type(value) in (list, tuple):
                return type(value)(self._without_credentials(item) for item in value)
        except Exception:  # a lazy or odd object that fails even isinstance: keep it out
            return self.cleansed_substitute
        return value
