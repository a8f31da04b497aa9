from django.urls import path

from apps.scheduling import views

app_name = "scheduling"
urlpatterns = [
    path("", views.schedule, name="schedule"),
    path("live/", views.schedule_live, name="schedule_live"),
    path("<slug:name>/pause/", views.schedule_entry_pause, name="entry_pause"),
    path("<slug:name>/<slug:action>/", views.schedule_entry_action, name="entry_action"),
]
