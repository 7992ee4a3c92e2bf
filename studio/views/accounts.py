"""Sign-in with a limit on failed tries (per account and per address, studio/services/sign_in.py),
so a password cannot be guessed by brute force, on our page and on the admin's; the other account
pages are Django's own views with our templates."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.views.decorators.http import require_http_methods

from studio import throttle
from studio.services import sign_in
from studio.views.common import TOO_MANY_REQUESTS


class ThrottledSignIn:
    """For AuthenticationForm and its subclasses: a try is reserved before the password is checked
    and given back when the password was right."""

    retry_after_s: int | None = None

    def clean(self):
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if username is None or not password:  # nothing to check: the fields say what is missing
            return super().clean()
        try:
            reservation = sign_in.sign_in_reserve(username=username, address=throttle.client_address(self.request))
        except throttle.Throttled as exc:  # the password is not checked: a throttled guess learns nothing
            self.retry_after_s = exc.retry_after_s
            raise ValidationError(
                f"Too many failed sign-ins; try again in {throttle.minutes_text(exc.retry_after_s)}.", code="throttled",
            ) from None
        try:
            return super().clean()
        finally:
            if self.user_cache is not None:  # right password (even if the account may not sign in here)
                sign_in.sign_in_succeeded(reservation)


class SignInForm(ThrottledSignIn, AuthenticationForm):
    pass


class AdminSignInForm(ThrottledSignIn, AdminAuthenticationForm):
    """The admin's form (staff only), with the same limit: studio/admin.py makes it the admin's."""


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
