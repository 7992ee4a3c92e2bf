"""Sign-in with a limit on failed tries (per user name and per address), so a password cannot be
guessed by brute force; the other account pages are Django's own views with our templates."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from studio import throttle
from studio.views.common import TOO_MANY_REQUESTS

SCOPE = "sign-in"


class SignInForm(AuthenticationForm):
    retry_after_s: int | None = None

    def _subjects(self) -> list[str]:
        username = str(self.data.get("username") or "").strip().lower()
        return [f"user:{username}", f"address:{throttle.client_address(self.request)}"]

    def clean(self):
        subjects, rate = self._subjects(), throttle.rate_setting("CONTINUITY_SIGN_IN_RATE")
        try:  # before the password is checked: a throttled guess learns nothing
            throttle.check(SCOPE, subjects, rate)
        except throttle.Throttled as exc:
            self.retry_after_s = exc.retry_after_s
            raise ValidationError(
                f"Too many failed sign-ins; try again in {throttle.minutes_text(exc.retry_after_s)}.", code="throttled",
            ) from None
        try:
            return super().clean()
        except ValidationError:
            throttle.record(SCOPE, subjects, rate)
            raise


class SignInView(auth_views.LoginView):
    form_class = SignInForm
    template_name = "auth/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.retry_after_s is not None:
            response.status_code = TOO_MANY_REQUESTS
            response["Retry-After"] = str(form.retry_after_s)
        return response
