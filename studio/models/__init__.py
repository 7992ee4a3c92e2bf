from studio.models.api_tokens import ApiToken, TokenScope
from studio.models.audit import AuditEvent
from studio.models.cast import CastKind, CastMember, ImageRights, ReferenceImage, RightsStatus, image_rights_for_member
from studio.models.cuts import Cut, CutEntry, Export, ExportFormat, ExportStatus
from studio.models.identity import IdentityScore, IdentityStatus
from studio.models.notifications import EmailMode, Notification, NotificationKind, NotificationPreference, ShotFollow
from studio.models.project import Membership, Project, Role
from studio.models.reviews import Comment, Decision, ReviewDecision
from studio.models.sharing import ReviewLink
from studio.models.script import CameraMove, IntExt, Scene, ScriptSource, Shot, ShotCast, ShotSize
from studio.models.takes import FINAL_TAKE_STATUSES, InvalidTransition, Take, TakePriority, TakeStatus
from studio.models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "ApiToken", "TokenScope",
    "AuditEvent", "CameraMove", "CastKind", "CastMember", "Comment", "Cut", "CutEntry", "Decision", "Export",
    "ExportFormat", "ExportStatus", "FINAL_TAKE_STATUSES", "IdentityScore", "IdentityStatus", "IntExt", "InvalidTransition", "Membership", "Project",
    "ImageRights", "image_rights_for_member", "ReferenceImage", "ReviewDecision", "ReviewLink", "RightsStatus", "Role", "Scene", "ScriptSource", "Shot", "ShotCast",
    "ShotSize", "Take", "TakePriority", "TakeStatus",
    "EmailMode", "Notification", "NotificationKind", "NotificationPreference", "ShotFollow",
    "DeliveryStatus", "WebhookDelivery", "WebhookEndpoint", "WebhookEvent",
]
