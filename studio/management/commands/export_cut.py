import shutil
import time
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management import BaseCommand, CommandError

from studio.management.commands._common import project_and_cut, project_owner
from studio.models import Export, ExportFormat, ExportStatus
from studio.services.cuts import export_request


class Command(BaseCommand):
    help = ("Export a cut to MP4, OTIO, EDL, FCP 7 XML, a provenance manifest, or a bundle with the media "
            "(otioz; zip: EDL + FCP 7 XML + OTIO), and copy it to --output.")

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--cut", required=True)
        parser.add_argument("--format", required=True, choices=[f.value for f in ExportFormat])
        parser.add_argument("--output", required=True, type=Path)
        parser.add_argument("--override-rights", action="store_true", help="Export even if a reference's rights are unknown.")
        parser.add_argument("--internal-draft", action="store_true",
                            help="An internal draft: uncleared reference images allowed, watermarked NOT CLEARED.")
        parser.add_argument("--timeout", type=float, default=1800)

    def handle(self, *args, project, cut, format, output, override_rights, internal_draft, timeout, **options):
        project_obj, cut_obj = project_and_cut(project, cut)
        try:
            export = export_request(cut=cut_obj, actor=project_owner(project_obj), fmt=format, rights_override=override_rights,
                                    internal_draft=internal_draft)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        export = self._wait(export.id, timeout)
        if export.status != ExportStatus.SUCCEEDED:
            raise CommandError(f"Export failed: {export.error}")
        for warning in export.warnings:
            self.stderr.write(f"warning: {warning}")
        output.parent.mkdir(parents=True, exist_ok=True)
        with export.file.open("rb") as source, open(output, "wb") as target:  # local or remote store
            shutil.copyfileobj(source, target)
        self.stdout.write(self.style.SUCCESS(f"Wrote {output}"))

    def _wait(self, export_id: int, timeout: float) -> Export:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            export = Export.objects.get(pk=export_id)
            if export.status in (ExportStatus.SUCCEEDED, ExportStatus.FAILED):
                return export
            time.sleep(0.3)
        raise CommandError("Timed out waiting for the export; is a worker running?")
