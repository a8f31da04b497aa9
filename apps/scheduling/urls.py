from django.urls import path

from apps.scheduling import views

app_name = "scheduling"
urlpatterns = [
    path("", views.schedule, name="schedule"),
    path("<slug:name>/<slug:action>/", views.schedule_entry_action, name="entry_action"),
]
