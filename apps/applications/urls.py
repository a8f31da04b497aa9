from django.urls import path

from apps.applications import views

app_name = "applications"
urlpatterns = [
    path("", views.application_list, name="list"),
    path("<int:pk>/", views.application_detail, name="detail"),
    path("<int:pk>/<slug:action>/", views.application_action, name="action"),
]
