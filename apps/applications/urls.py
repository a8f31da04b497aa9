from django.urls import include, path

from apps.applications import views

app_name = "applications"
urlpatterns = [
    path("", views.application_list, name="list"),
    path("<int:pk>/", views.application_detail, name="detail"),
    # The page's changing parts, polled by the page itself (before the actions: "live" is no action).
    path("<int:pk>/live/", views.application_live, name="detail_live"),
    path("<int:pk>/<slug:action>/", views.application_action, name="action"),
    # Support's Health page lives in the monitoring app; its names stay in this namespace.
    path("support/health/", include("apps.monitoring.urls")),
]
