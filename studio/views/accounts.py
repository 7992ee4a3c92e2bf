"""Sign-in with a limit on failed tries (per account and per address, studio/services/sign_in.py),
so a password cannot be guessed by brute force, on our page and on the admin's; the other account
pages are Django's own views with our templates."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.views.decorators.http import require_http_methods

from studio.forms import SignInForm
from studio.views.common import TOO_MANY_REQUESTS


def _answer_throttled(response, form):
    retry_after_s = getattr(form, "retry_after_s", None)
    if retry_after_s is not None:
        response.status_code = TOO_MANY_REQUESTS
        response["Retry-After"] = str(retry_after_s)
    return response


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    template_name = "auth/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form):
        return _answer_throttled(super().form_invalid(form), form)


@require_http_methods(["GET", "POST"])
def admin_sign_in(request):
    """The admin's own sign-in page (its form is AdminSignInForm), answered 429 when throttled."""
    response = admin.site.login(request)
    return _answer_throttled(response, (getattr(response, "context_data", None) or {}).get("form"))
