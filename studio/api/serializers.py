"""Shapes of the API's requests and answers. No business logic: values are typed and bounded
here, and every rule about them is decided by the service the view calls."""

from __future__ import annotations

from rest_framework import serializers

from studio.models import (
    CastMember, Comment, Cut, CutEntry, Export, ExportFormat, IdentityScore, ImageRights, Membership, Project, ReferenceImage,
    ReviewDecision, Scene, Shot, Take,
)

VERSION_HELP = "The version you last read; a write against a newer one is refused with 409 and the current values."


def versioned(name: str, serializer_class):
    """An edit serializer: every field optional, plus the required `version` it was read at."""
    fields = {"version": serializers.IntegerField(min_value=1, help_text=VERSION_HELP)}
    return type(name, (serializer_class,), {
        **fields, "Meta": type("Meta", (serializer_class.Meta,), {
            "fields": [*serializer_class.Meta.write_fields, "version"], "extra_kwargs": {
                name: {"required": False} for name in serializer_class.Meta.write_fields}}),
    })


# --- Projects and members --------------------------------------------------------------------------

class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "slug", "name", "description", "fps", "width", "height", "default_backend", "version",
                  "created_at", "updated_at"]
        read_only_fields = fields


class ProjectCreateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        write_fields = ["name", "description", "fps", "width", "height", "default_backend"]
        fields = write_fields
        extra_kwargs = {"default_backend": {"required": False}}


ProjectEditSerializer = versioned("ProjectEditSerializer", ProjectCreateSerializer)


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at"]
        read_only_fields = fields


# --- Cast -----------------------------------------------------------------------------------------

class ReferenceImageSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReferenceImage
        fields = ["id", "sha256", "width", "height", "order", "is_primary", "rights_status", "rights_source", "licence_note",
                  "created_at"]
        read_only_fields = fields


class CastMemberSerializer(serializers.ModelSerializer):
    images = ReferenceImageSerializer(many=True, read_only=True)

    class Meta:
        model = CastMember
        fields = ["id", "kind", "name", "handle", "description", "rights_status", "rights_note", "version", "images",
                  "created_at", "updated_at"]
        read_only_fields = fields


class CastMemberCreateSerializer(serializers.ModelSerializer):
    class Meta:
        model = CastMember
        write_fields = ["kind", "name", "handle", "description", "rights_status", "rights_note"]
        fields = write_fields
        extra_kwargs = {"handle": {"required": False, "help_text": "Empty: made from the name."}}


CastMemberEditSerializer = versioned("CastMemberEditSerializer", CastMemberCreateSerializer)


class ImageRightsSerializer(serializers.Serializer):
    rights_status = serializers.ChoiceField(choices=ImageRights.choices, help_text="Only cleared images may appear in a deliverable.")
    rights_source = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)
    licence_note = serializers.CharField(required=False, allow_blank=True, default="", max_length=4000)


class ImageUploadSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="PNG, JPEG or WebP; re-encoded on arrival, metadata dropped.")


# --- Script, scenes and shots -------------------------------------------------------------------

class ScriptUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A UTF-8 Fountain screenplay.")
    create_shots = serializers.BooleanField(default=True, help_text="A first shot for every new scene.")


class ScriptReportSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    unchanged_script = serializers.BooleanField()
    scenes_added = serializers.ListField(child=serializers.CharField())
    scenes_changed = serializers.ListField(child=serializers.DictField())
    scenes_removed = serializers.ListField(child=serializers.CharField())
    scenes_unchanged = serializers.IntegerField()
    cast_added = serializers.ListField(child=serializers.CharField())
    shots_created = serializers.IntegerField()


class SceneSerializer(serializers.ModelSerializer):
    class Meta:
        model = Scene
        fields = ["id", "order", "heading", "interior_exterior", "location", "time_of_day", "scene_number", "synopsis",
                  "action", "location_cast", "omitted", "version", "created_at", "updated_at"]
        read_only_fields = fields


class SceneCreateSerializer(serializers.ModelSerializer):
    location_cast = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                             help_text="Id of a location in the cast.")

    class Meta:
        model = Scene
        write_fields = ["heading", "interior_exterior", "location", "time_of_day", "scene_number", "synopsis", "location_cast"]
        fields = write_fields


SceneEditSerializer = versioned("SceneEditSerializer", SceneCreateSerializer)


class ShotSerializer(serializers.ModelSerializer):
    cast = serializers.SerializerMethodField(help_text="Handles of the shot's cast, in reference order.")

    class Meta:
        model = Shot
        fields = ["id", "scene", "order", "code", "prompt", "cast", "shot_size", "camera_move", "lens_mm", "duration_s",
                  "seed", "backend", "continue_from_previous", "approved_take", "version", "created_at", "updated_at"]
        read_only_fields = fields

    def get_cast(self, shot) -> list[str]:
        handles = shot.__dict__.get("cast_handles")  # a shot just written: selectors.api_shot_with_cast
        if handles is not None:
            return handles
        return [link.cast_member.handle for link in shot.cast_links.all()]  # prefetched by api_shots

    def to_representation(self, shot) -> dict:
        """What ModelSerializer gives, read straight off the row: a page of 500 shots would
        otherwise make some 17,000 per-field calls (tests/api pins the two answers equal)."""
        row = {}
        for name, attribute, convert in self._plan():
            if attribute is None:
                row[name] = self.get_cast(shot)
                continue
            value = getattr(shot, attribute)
            row[name] = convert(value) if convert is not None and value is not None else value
        return row

    @classmethod
    def _plan(cls) -> list[tuple[str, str | None, object]]:
        """(answer key, attribute of the row or None for the cast, converter or None) for every
        field: the same for every instance, so made once per process. Made per instance, from the
        fields DRF builds for it, it was 1.2 ms of CPU in every edit's answer, right after the
        edit's event went out while the same process writes it to its sockets (issue 15)."""
        plan = cls.__dict__.get("_shared_plan")
        if plan is None:
            plan = []
            for name, field in cls().fields.items():
                if name == "cast":
                    plan.append((name, None, None))
                elif isinstance(field, serializers.PrimaryKeyRelatedField):
                    plan.append((name, f"{field.source}_id", None))
                elif isinstance(field, (serializers.DateTimeField, serializers.DecimalField)):
                    plan.append((name, field.source, field.to_representation))
                else:
                    plan.append((name, field.source, None))
            cls._shared_plan = plan  # two threads making it at once make the same list
        return plan


class ShotCreateSerializer(serializers.ModelSerializer):
    scene = serializers.IntegerField(min_value=1, help_text="Id of the scene the shot belongs to.")

    class Meta:
        model = Shot
        write_fields = ["code", "prompt", "shot_size", "camera_move", "lens_mm", "duration_s", "seed", "backend",
                        "continue_from_previous"]
        fields = ["scene", *write_fields]
        extra_kwargs = {"seed": {"required": False}, "code": {"required": False}}


ShotEditSerializer = versioned("ShotEditSerializer", type("ShotFieldsSerializer", (serializers.ModelSerializer,), {
    "Meta": type("Meta", (), {"model": Shot, "write_fields": ShotCreateSerializer.Meta.write_fields,
                              "fields": ShotCreateSerializer.Meta.write_fields}),
}))


class RenderRequestSerializer(serializers.Serializer):
    force = serializers.BooleanField(default=False, help_text="Render again even if a take with the same inputs exists.")


# --- Takes, comments, decisions ------------------------------------------------------------------

class TakeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Take
        fields = ["id", "shot", "number", "backend", "status", "progress", "step", "total_steps", "attempts", "error",
                  "frames", "duration_s", "compute_seconds", "signature", "reused_from", "cancel_requested",
                  "created_at", "started_at", "finished_at"]
        read_only_fields = fields


class IdentityScoreSerializer(serializers.ModelSerializer):
    """How closely the take keeps one cast member (generation/identity.py); "no face" is a result."""

    cast_member = serializers.IntegerField(source="cast_member_id", read_only=True)
    handle = serializers.CharField(source="cast_member.handle", read_only=True)
    kind = serializers.CharField(source="cast_member.kind", read_only=True)
    score = serializers.FloatField(allow_null=True, read_only=True,
                                   help_text="Characters: face distance (lower is closer); objects and places: "
                                             "matched local features (higher is closer). Null: nothing to score.")
    scored_at = serializers.DateTimeField(source="created", read_only=True)

    class Meta:
        model = IdentityScore
        fields = ["cast_member", "handle", "kind", "status", "verdict", "score", "threshold", "method",
                  "frames_sampled", "frames_scored", "references_used", "best_frame_index", "best_frame_time_s",
                  "worst_frame_index", "worst_frame_time_s", "model", "model_version", "scored_at"]
        read_only_fields = fields


class RenderAnswerSerializer(serializers.Serializer):
    take = TakeSerializer()
    dispatched = serializers.BooleanField(help_text="False when an existing take answers the request (no new render).")


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author_name", read_only=True)

    class Meta:
        model = Comment
        fields = ["id", "take", "parent", "author", "body", "frame", "resolved", "created_at"]
        read_only_fields = fields


class CommentCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=5000)
    frame = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2**31 - 1)
    parent = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class ResolveSerializer(serializers.Serializer):
    resolved = serializers.BooleanField()


class DecisionSerializer(serializers.ModelSerializer):
    decided_by = serializers.CharField(source="decided_by.username", read_only=True, default=None)

    class Meta:
        model = ReviewDecision
        fields = ["id", "take", "decision", "note", "decided_by", "created_at"]
        read_only_fields = fields


class DecisionCreateSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReviewDecision
        fields = ["decision", "note"]


# --- Cuts and exports ----------------------------------------------------------------------------

class CutSerializer(serializers.ModelSerializer):
    class Meta:
        model = Cut
        fields = ["id", "name", "description", "version", "created_at", "updated_at"]
        read_only_fields = fields


class CutCreateSerializer(serializers.ModelSerializer):
    from_board = serializers.BooleanField(default=True, help_text="Start with every live shot in board order.")

    class Meta:
        model = Cut
        write_fields = ["name", "description"]
        fields = [*write_fields, "from_board"]


CutEditSerializer = versioned("CutEditSerializer", type("CutFieldsSerializer", (serializers.ModelSerializer,), {
    "Meta": type("Meta", (), {"model": Cut, "write_fields": ["name", "description"], "fields": ["name", "description"]}),
}))


class CutEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = CutEntry
        fields = ["id", "order", "shot", "take", "in_frame", "out_frame"]
        read_only_fields = fields


class CutVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text=VERSION_HELP + " (the cut's version)")


class CutEntryCreateSerializer(CutVersionSerializer):
    shot = serializers.IntegerField(min_value=1)
    take = serializers.IntegerField(required=False, allow_null=True, min_value=1, help_text="Empty: the approved take.")


class CutEntryEditSerializer(CutVersionSerializer):
    take = serializers.IntegerField(required=False, allow_null=True, min_value=1, help_text="Empty: the approved take.")
    in_frame = serializers.IntegerField(default=0, min_value=0, max_value=2**31 - 1)
    out_frame = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**31 - 1)


class CutReorderSerializer(CutVersionSerializer):
    entries = serializers.ListField(child=serializers.IntegerField(min_value=1), help_text="Every entry id, in the new order.")


class StoryboardOptionsSerializer(serializers.Serializer):
    paper = serializers.ChoiceField(choices=["a4", "letter"], default="a4")
    layout = serializers.ChoiceField(choices=["2x3", "3x3"], default="2x3", help_text="Rows × columns of panels a page.")


class ProjectStoryboardOptionsSerializer(StoryboardOptionsSerializer):
    scene = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1,
                                     help_text="Only this scene's shots (its id); empty: the whole project.")


class PaperSerializer(serializers.Serializer):
    paper = serializers.ChoiceField(choices=["a4", "letter"], default="a4")


class ExportSerializer(serializers.ModelSerializer):
    class Meta:
        model = Export
        fields = ["id", "cut", "format", "status", "progress", "error", "warnings", "internal_draft", "created_at", "finished_at"]
        read_only_fields = fields


class ExportCreateSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=ExportFormat.choices)
    rights_override = serializers.BooleanField(default=False, help_text="Owners only: export despite unknown rights.")
    internal_draft = serializers.BooleanField(
        default=False, help_text="An internal draft: reference images whose rights are not cleared are allowed, "
                                 "the MP4 is watermarked NOT CLEARED and named so. Never a deliverable.")

