from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from apps.applications.auth import support_required
from apps.core.jobs_dashboard import jobs_dashboard_urlpatterns
from apps.monitoring.views import healthz, metrics, readyz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # django-rq's dashboard, support only (its views also require staff status).
    path("django-rq/", include((jobs_dashboard_urlpatterns(gate=support_required), "django_rq"))),
    path("schedule/", include("apps.scheduling.urls")),
    path("", include("apps.applications.urls")),
]
