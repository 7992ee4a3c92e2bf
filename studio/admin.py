from django.contrib import admin
from django.utils.html import format_html

from studio.models import (
    ApiToken, AuditEvent, CastMember, Comment, Cut, CutEntry, Export, IdentityScore, Membership, Project, ReferenceImage,
    ReviewDecision, ReviewLink, Scene, ScriptSource, Shot, ShotCast, Take, WebhookDelivery, WebhookEndpoint,
    Notification, NotificationPreference, ShotFollow,
)
from studio.forms import AdminSignInForm

# The admin's sign-in counts failures against the same per-account and per-address budget as ours
# (its URL is studio.views.accounts.admin_sign_in, which answers 429 when throttled).
admin.site.login_form = AdminSignInForm


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "project"
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["invited_by", "created_at"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "fps", "resolution", "default_backend", "created_at", "deleted_at"]
    search_fields = ["name", "slug"]
    list_filter = ["default_backend"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["event_seq", "version", "created_at", "updated_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["project__name", "user__username"]
    list_select_related = ["project", "user"]


class ReferenceImageInline(admin.TabularInline):
    model = ReferenceImage
    extra = 0
    fields = ["preview", "image", "is_primary", "order", "width", "height", "sha256"]
    readonly_fields = ["preview", "width", "height", "sha256"]

    @admin.display(description="")
    def preview(self, obj):
        return format_html('<img src="{}" style="height:64px">', obj.image.url) if obj.image else ""


@admin.register(CastMember)
class CastMemberAdmin(admin.ModelAdmin):
    list_display = ["name", "handle", "kind", "project", "rights_status", "deleted_at"]
    list_filter = ["kind", "rights_status", "project"]
    search_fields = ["name", "handle", "description"]
    list_select_related = ["project"]
    inlines = [ReferenceImageInline]


@admin.register(ReferenceImage)
class ReferenceImageAdmin(admin.ModelAdmin):
    list_display = ["cast_member", "order", "is_primary", "width", "height", "sha256"]
    list_select_related = ["cast_member"]
    search_fields = ["sha256", "cast_member__handle"]


@admin.register(ScriptSource)
class ScriptSourceAdmin(admin.ModelAdmin):
    list_display = ["project", "version", "title", "filename", "imported_by", "imported_at"]
    list_select_related = ["project", "imported_by"]
    readonly_fields = ["report"]


class ShotInline(admin.TabularInline):
    model = Shot
    extra = 0
    fields = ["order", "code", "prompt", "shot_size", "camera_move", "duration_s", "approved_take"]
    raw_id_fields = ["approved_take"]
    show_change_link = True


@admin.register(Scene)
class SceneAdmin(admin.ModelAdmin):
    list_display = ["heading", "project", "order", "interior_exterior", "time_of_day", "omitted", "deleted_at"]
    list_filter = ["project", "interior_exterior", "omitted"]
    search_fields = ["heading", "location", "synopsis"]
    list_select_related = ["project"]
    inlines = [ShotInline]


class ShotCastInline(admin.TabularInline):
    model = ShotCast
    extra = 0
    autocomplete_fields = ["cast_member"]


class TakeInline(admin.TabularInline):
    model = Take
    extra = 0
    fields = ["number", "status", "backend", "progress", "attempts", "compute_seconds", "video"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False


@admin.register(Shot)
class ShotAdmin(admin.ModelAdmin):
    list_display = ["code", "scene", "shot_size", "camera_move", "duration_s", "approved_take", "version"]
    list_filter = ["scene__project", "shot_size", "camera_move"]
    search_fields = ["code", "prompt"]
    list_select_related = ["scene", "approved_take__shot"]
    raw_id_fields = ["approved_take"]
    inlines = [ShotCastInline, TakeInline]


class IdentityScoreInline(admin.TabularInline):
    """What the scoring step measured for each cast member of the take (written by the worker only)."""

    model = IdentityScore
    extra = 0
    can_delete = False
    fields = readonly_fields = ["cast_member", "status", "score", "threshold", "verdict", "frames_scored", "model", "model_version"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Take)
class TakeAdmin(admin.ModelAdmin):
    inlines = [IdentityScoreInline]
    list_display = ["__str__", "status", "backend", "progress", "attempts", "compute_seconds", "created_at"]
    list_filter = ["status", "backend"]
    search_fields = ["signature", "shot__code"]
    list_select_related = ["shot"]
    readonly_fields = [f.name for f in Take._meta.fields if f.name not in {"deleted_at"}]

    def has_add_permission(self, request):
        return False  # takes come from renders only


class ReplyInline(admin.TabularInline):
    model = Comment
    fk_name = "parent"
    extra = 0
    fields = ["author", "guest_name", "body", "resolved"]


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["__str__", "frame", "resolved", "created_at"]
    list_filter = ["resolved"]
    search_fields = ["body"]
    list_select_related = ["author", "take__shot"]
    inlines = [ReplyInline]


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(admin.ModelAdmin):
    list_display = ["take", "decision", "decided_by", "created_at"]
    list_filter = ["decision"]
    list_select_related = ["take__shot", "decided_by"]


class CutEntryInline(admin.TabularInline):
    model = CutEntry
    extra = 0
    raw_id_fields = ["shot", "take"]


@admin.register(Cut)
class CutAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "version", "updated_at", "deleted_at"]
    list_filter = ["project"]
    search_fields = ["name"]
    inlines = [CutEntryInline]


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ["cut", "format", "status", "rights_override", "requested_by", "created_at", "finished_at"]
    list_filter = ["format", "status"]
    list_select_related = ["cut", "requested_by"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "project", "actor", "verb", "object_type", "object_repr"]
    list_filter = ["verb", "object_type", "project"]
    search_fields = ["object_repr", "verb"]
    list_select_related = ["project", "actor"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReviewLink)
class ReviewLinkAdmin(admin.ModelAdmin):
    list_display = ["__str__", "project", "expires_at", "revoked_at", "created_by", "created_at"]
    list_filter = ["project"]
    list_select_related = ["project", "created_by", "cut", "shot"]
    readonly_fields = ["token", "password_hash", "created_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Operators see and revoke tokens (set "revoked at"); the secret is never stored, only its hash."""

    list_display = ["name", "user", "prefix", "scopes", "expires_at", "last_used_at", "revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    readonly_fields = ["user", "name", "prefix", "scopes", "created_at", "last_used_at"]
    exclude = ["secret_sha256"]

    def has_add_permission(self, request):
        return False  # tokens are created by their owner, on the account's token page or the API


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    extra = 0
    can_delete = False
    fields = readonly_fields = ["event_type", "status", "attempts", "response_code", "error", "next_attempt_at", "created_at"]
    ordering = ["-created_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "project", "active", "consecutive_failures", "disabled_at"]
    list_filter = ["active"]
    search_fields = ["url", "project__name"]
    list_select_related = ["project"]
    exclude = ["secret"]  # shown once to the owner who registered it, on the project's Webhooks page
    readonly_fields = ["project", "created_by", "created_at", "disabled_at"]
    inlines = [WebhookDeliveryInline]


# Notifications (studio/services/notifications.py): read-only records of who was told what; an
# operator looks at them to answer "why did I (not) get an email?".
@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["recipient", "kind", "project", "text", "email", "emailed_at", "read_at", "created_at"]
    list_filter = ["kind", "email"]
    search_fields = ["recipient__username", "text", "project__name"]
    list_select_related = ["recipient", "project"]
    readonly_fields = ["recipient", "kind", "project", "actor", "shot", "take", "comment", "text", "url", "in_app",
                       "email", "emailed_at", "created_at", "read_at"]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "in_app", "email"]
    list_filter = ["kind", "email"]
    search_fields = ["user__username"]
    list_select_related = ["user"]


@admin.register(ShotFollow)
class ShotFollowAdmin(admin.ModelAdmin):
    list_display = ["user", "shot", "created_at"]
    search_fields = ["user__username", "shot__code"]
    list_select_related = ["user", "shot"]
    raw_id_fields = ["user", "shot"]
