"""Forms parse and check the shape of what the browser sends; the services decide what is allowed."""

from __future__ import annotations

import json
import uuid

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404

from studio import selectors, throttle
from studio.backends import backend_choices
from studio.models import (
    CameraMove, CastKind, Cut, Decision, ExportFormat, ImageRights, RightsStatus, Role, Shot, ShotSize, TokenScope, WebhookEvent,
)
from studio.services.reviews import MAX_COMMENT_CHARS
from studio.services import sign_in
from studio.services.sharing import MAX_LINK_DAYS

RESOLUTIONS = [
    ("1280x720", "1280×720 (HD)"),
    ("1920x1080", "1920×1080 (Full HD)"),
    ("1024x576", "1024×576"),
    ("854x480", "854×480"),
    ("640x360", "640×360 (fast previews)"),
    ("720x1280", "720×1280 (vertical)"),
    ("1080x1080", "1080×1080 (square)"),
]
MAX_ANNOTATION_CHARS = 200_000
MAX_STROKES = 500


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    fps = forms.IntegerField(label="Frame rate", min_value=1, max_value=120, initial=24)
    resolution = forms.ChoiceField(choices=RESOLUTIONS, initial="1280x720")
    default_backend = forms.ChoiceField(label="Default backend", choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["default_backend"].choices = backend_choices(keep=self.initial.get("default_backend", ""))
        self.fields["default_backend"].initial = settings.GENERATION_BACKEND

    def service_values(self) -> dict:
        width, height = (int(v) for v in self.cleaned_data["resolution"].split("x"))
        values = {k: self.cleaned_data[k] for k in ("name", "description", "fps", "default_backend")}
        return values | {"width": width, "height": height}


class CastMemberForm(forms.Form):
    name = forms.CharField(max_length=120)
    kind = forms.ChoiceField(choices=CastKind.choices, initial=CastKind.CHARACTER)
    handle = forms.CharField(max_length=60, required=False, help_text="Used in prompts as @handle; empty: made from the name.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    rights_status = forms.ChoiceField(label="Rights", choices=RightsStatus.choices, initial=RightsStatus.UNKNOWN)
    rights_note = forms.CharField(label="Rights note", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    # One token per rendered form: a second submit of the same form (double click, resend) adds nobody new.
    request_token = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput, initial=lambda: uuid.uuid4().hex)


class CastMemberEditForm(CastMemberForm):
    request_token = None
    handle = forms.CharField(max_length=60, help_text="Used in prompts as @handle.")
    version = forms.IntegerField(widget=forms.HiddenInput)

    def service_values(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if k != "version"}


class ScriptImportForm(forms.Form):
    file = forms.FileField(required=False, label="Fountain file",
                           widget=forms.ClearableFileInput(attrs={"accept": ".fountain,.spmd,.txt,text/plain"}))
    text = forms.CharField(required=False, label="…or paste the script", widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false"}))

    def clean(self):
        data = super().clean()
        upload, text = data.get("file"), (data.get("text") or "").strip()
        if not upload and not text:
            raise forms.ValidationError("Choose a .fountain file or paste the script.")
        limit = settings.CONTINUITY_MAX_SCRIPT_BYTES
        if upload and upload.size > limit:
            raise forms.ValidationError(f"The file is larger than {limit // (1024 * 1024)} MB.")
        if not upload and len(text.encode()) > limit:
            raise forms.ValidationError(f"The script is larger than {limit // (1024 * 1024)} MB.")
        return data

    def script_bytes(self) -> tuple[bytes, str]:
        upload = self.cleaned_data.get("file")
        if upload:
            return upload.read(), upload.name
        return self.cleaned_data["text"].encode(), "pasted.fountain"


class SceneForm(forms.Form):
    heading = forms.CharField(max_length=300, initial="INT. LOCATION - DAY")


class NewShotForm(forms.Form):
    prompt = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ShotForm(forms.Form):
    code = forms.CharField(max_length=20)
    prompt = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "data-mention": "cast"}))
    shot_size = forms.ChoiceField(label="Size", choices=ShotSize.choices)
    camera_move = forms.ChoiceField(label="Move", choices=CameraMove.choices)
    lens_mm = forms.IntegerField(label="Lens (mm)", min_value=8, max_value=600)
    duration_s = forms.DecimalField(label="Duration (s)", min_value=0.25, max_value=60, decimal_places=2, max_digits=6)
    seed = forms.IntegerField(min_value=0, max_value=2**63 - 1)
    backend = forms.ChoiceField(required=False, choices=())
    continue_from_previous = forms.BooleanField(label="Continue from previous shot", required=False)
    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, default_backend: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["backend"].choices = [("", f"Project default ({default_backend})" if default_backend else "Project default"),
                                          *backend_choices(keep=self.initial.get("backend", ""))]

    def service_values(self) -> dict:
        return {k: v for k, v in self.cleaned_data.items() if k != "version"}

    @classmethod
    def for_shot(cls, shot, *, default_backend: str = "", data=None) -> "ShotForm":
        initial = {name: getattr(shot, name) for name in
                   ("code", "prompt", "shot_size", "camera_move", "lens_mm", "duration_s", "seed", "backend",
                    "continue_from_previous", "version")}
        return cls(data=data, initial=initial, default_backend=default_backend)


class CommentForm(forms.Form):
    body = forms.CharField(label="Comment", max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    frame = forms.IntegerField(required=False, min_value=0)
    parent = forms.IntegerField(required=False, widget=forms.HiddenInput)
    annotation = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_annotation(self) -> dict | None:
        """Strokes drawn on the paused frame: {"strokes": [{"color", "width", "points": [[x, y], ...]}]}
        with coordinates as fractions of the frame, so they fit any player size."""
        raw = self.cleaned_data.get("annotation") or ""
        if not raw.strip():
            return None
        if len(raw) > MAX_ANNOTATION_CHARS:
            raise forms.ValidationError("The drawing is too large to save.")
        try:
            data = json.loads(raw)
        except ValueError:
            raise forms.ValidationError("The drawing could not be read.") from None
        strokes = data.get("strokes") if isinstance(data, dict) else None
        if not isinstance(strokes, list) or len(strokes) > MAX_STROKES:
            raise forms.ValidationError("The drawing could not be read.")
        return {"strokes": [_clean_stroke(stroke) for stroke in strokes]} if strokes else None


def _clean_stroke(stroke) -> dict:
    if not isinstance(stroke, dict) or not isinstance(stroke.get("points"), list):
        raise forms.ValidationError("The drawing could not be read.")
    color = str(stroke.get("color", "#ff5a5f"))[:16]
    if not (color.startswith("#") and all(c in "0123456789abcdefABCDEF" for c in color[1:])):
        color = "#ff5a5f"
    try:
        width = min(max(float(stroke.get("width", 0.004)), 0.001), 0.05)
        points = [[round(min(max(float(x), 0.0), 1.0), 4), round(min(max(float(y), 0.0), 1.0), 4)] for x, y in stroke["points"]]
    except (TypeError, ValueError):
        raise forms.ValidationError("The drawing could not be read.") from None
    return {"color": color, "width": width, "points": points}


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=Decision.choices)
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class RerenderForm(forms.Form):
    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "data-mention": "cast"}))


class CutForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    from_board = forms.BooleanField(required=False, initial=True, label="Start with every shot of the board")


class CutFromApprovedForm(forms.Form):
    """A new cut of the approved takes: of the whole project, some scenes, or some shots (a board filter)."""

    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    scene = forms.TypedMultipleChoiceField(coerce=int, required=False, choices=(), label="Only these scenes",
                                           help_text="None chosen: every scene.")

    def __init__(self, *args, scenes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scene"].choices = list(scenes)


class CutEntryForm(forms.Form):
    take = forms.IntegerField(required=False, help_text="Empty: the shot's approved take.")
    in_frame = forms.IntegerField(min_value=0, initial=0)
    out_frame = forms.IntegerField(required=False, min_value=1)
    version = forms.IntegerField(widget=forms.HiddenInput)


class ImageRightsForm(forms.Form):
    rights_status = forms.ChoiceField(choices=ImageRights.choices)
    rights_source = forms.CharField(required=False, max_length=300)
    licence_note = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=ExportFormat.choices)
    rights_override = forms.BooleanField(required=False)
    internal_draft = forms.BooleanField(required=False)  # may use uncleared images; watermarked NOT CLEARED
    confirm_draft = forms.BooleanField(required=False)  # "export anyway" for a cut with shots not yet final


# --- Team -----------------------------------------------------------------------------------------

class InviteForm(forms.Form):
    who = forms.CharField(label="Username or e-mail", max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


# --- Review links: owners share, guests unlock and comment --------------------------------------

class ReviewLinkForm(forms.Form):
    target = forms.ChoiceField(label="Share", choices=())
    label = forms.CharField(max_length=120, required=False)
    days = forms.IntegerField(label="Days valid", min_value=1, max_value=MAX_LINK_DAYS, initial=7)
    password = forms.CharField(required=False, max_length=128, widget=forms.PasswordInput(render_value=False),
                               help_text="Optional: guests must type it once per browser session.")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        cuts = [(f"cut:{c.id}", f"Cut: {c.name}") for c in selectors.project_cuts(project)]
        shots = [(f"shot:{s.id}", f"Shot {s.code} · {s.scene.heading}") for s in selectors.shots_in_order(project)]
        self.fields["target"].choices = cuts + shots

    def target_kwargs(self, project) -> dict:
        kind, _, object_id = self.cleaned_data["target"].partition(":")
        if kind == "cut":
            return {"cut": get_object_or_404(Cut.objects.live(), pk=int(object_id), project=project)}
        shots = Shot.objects.live().select_related("scene")
        return {"shot": get_object_or_404(shots, pk=int(object_id), scene__project=project)}


class GuestPasswordForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput, max_length=128)


class GuestCommentForm(forms.Form):
    name = forms.CharField(label="Your name", max_length=80)
    body = forms.CharField(label="Comment", max_length=MAX_COMMENT_CHARS, widget=forms.Textarea(attrs={"rows": 3}))
    # Set by the player (the frame showing when "at the current frame" is ticked), never typed.
    frame = forms.IntegerField(label="At frame", required=False, min_value=0, widget=forms.HiddenInput)


# --- Sign-in (the studio's page and the admin's), with the limit on failed tries --------------------

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


# --- Webhooks: owners register endpoints and choose events --------------------------------------

class WebhookEndpointForm(forms.Form):
    url = forms.URLField(label="Endpoint URL", max_length=500, assume_scheme="https")
    description = forms.CharField(max_length=200, required=False)
    events = forms.MultipleChoiceField(choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple,
                                       initial=[WebhookEvent.TAKE_APPROVED, WebhookEvent.CUT_EXPORTED])


# --- Account settings → API tokens (studio/views/api_tokens.py) ----------------------------------

API_TOKEN_EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "A year"), ("", "Never")]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What uses it, e.g. “render farm dashboard”.")
    scopes = forms.MultipleChoiceField(choices=TokenScope.choices, widget=forms.CheckboxSelectMultiple,
                                       initial=[TokenScope.READ])
    expires_in_days = forms.TypedChoiceField(label="Expires after", choices=API_TOKEN_EXPIRY_CHOICES, coerce=int,
                                             empty_value=None, initial="90", required=False)


class BoardFilterForm(forms.Form):
    """The board's filters, read from the URL's query string so a link shares the view. A value
    that does not parse is named in the form's errors and left out; the other filters still apply."""

    scene = forms.IntegerField(required=False, min_value=1)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *selectors.BOARD_STATUSES.items()])
    cast = forms.IntegerField(required=False, min_value=1)
    backend = forms.CharField(required=False, max_length=40)
    q = forms.CharField(required=False, max_length=200, label="Search")

    def filters(self) -> selectors.BoardFilters:
        self.is_valid()
        data = {name: self.cleaned_data.get(name) for name in self.fields if name not in self.errors}
        return selectors.BoardFilters(scene=data.get("scene"), status=data.get("status") or "", cast=data.get("cast"),
                                      backend=(data.get("backend") or "").strip(), text=(data.get("q") or "").strip())

    def error_messages_text(self) -> list[str]:
        return [f"{self.fields[name].label or name.capitalize()}: {' '.join(errors)} That filter is left out."
                for name, errors in self.errors.items()]
