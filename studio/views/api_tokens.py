"""Account settings → API tokens: create one (its secret is shown once, on the answer to the
create), list yours, revoke one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from studio.forms import ApiTokenForm
from studio.models import ApiToken
from studio.services.api_tokens import api_token_create, api_token_revoke
from studio.views.common import UNPROCESSABLE, error_text


@never_cache  # the page that shows a new secret must not be kept by any cache
@require_http_methods(["GET", "POST"])
@login_required
def api_tokens(request):
    form = ApiTokenForm(request.POST or None)
    secret, status = None, 200
    if request.method == "POST":
        if form.is_valid():
            try:
                token, secret = api_token_create(user=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, error_text(exc))
            else:
                messages.success(request, f"Token “{token.name}” created. Copy it now: it is not shown again.")
                form = ApiTokenForm()
        if secret is None:
            status = UNPROCESSABLE
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at", "-id")
    return render(request, "account/api_tokens.html", {"form": form, "tokens": tokens, "secret": secret}, status=status)


@require_POST
@login_required
def api_token_revoke_view(request, token_id: int):
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)  # someone else's token: 404
    api_token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("api_tokens")
