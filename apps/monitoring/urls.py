"""Support's Health page, at /support/health/.

Included by ``apps.applications.urls`` at ``support/health/`` without a namespace of its
own, so the pages keep their names ``applications:support_health`` and
``applications:support_health_live`` (templates/base.html and the list page link to them).
"""

from django.urls import path

from apps.monitoring import views

urlpatterns = [
    path("", views.support_health, name="support_health"),
    path("live/", views.support_health_live, name="support_health_live"),
]
