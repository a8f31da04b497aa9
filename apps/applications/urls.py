from django.urls import path

from apps.applications import support_views, views

app_name = "applications"
urlpatterns = [
    path("", views.application_list, name="list"),
    path("<int:pk>/", views.application_detail, name="detail"),
    path("<int:pk>/<slug:action>/", views.application_action, name="action"),
    path("support/health/", support_views.support_health, name="support_health"),
]
