from django.urls import path

from apps.applications import views

app_name = "applications"
urlpatterns = [
    path("", views.application_list, name="list"),
]
