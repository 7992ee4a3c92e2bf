from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management import BaseCommand, CommandError

from studio.models import Membership, Project, Role
from studio.screenplay import ScriptError
from studio.services.script import script_import


class Command(BaseCommand):
    help = "Import (or re-import) a Fountain screenplay into a project."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project slug")
        parser.add_argument("file", type=Path)
        parser.add_argument("--no-shots", action="store_true", help="Do not create a first shot for new scenes.")

    def handle(self, *args, project, file, no_shots, **options):
        target = Project.objects.alive().filter(slug=project).first()
        if target is None:
            raise CommandError(f"No project with slug {project!r}.")
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        owner = Membership.objects.filter(project=target, role=Role.OWNER).select_related("user").first()
        try:
            report = script_import(project=target, actor=owner.user if owner else None, data=data, filename=file.name,
                                   create_shots=not no_shots)
        except (ScriptError, ValidationError) as exc:
            raise CommandError(f"{file.name}: {exc}") from exc
        self._print(report)

    def _print(self, report):
        if report.unchanged_script:
            self.stdout.write(f"The script is unchanged since version {report.version}; nothing to do.")
            return
        self.stdout.write(self.style.SUCCESS(f"Imported script version {report.version}."))
        for heading in report.scenes_added:
            self.stdout.write(f"  + {heading}")
        for change in report.scenes_changed:
            self.stdout.write(f"  ~ {change['heading']} ({', '.join(change['changes'])})")
        for heading in report.scenes_removed:
            self.stdout.write(f"  - {heading} (omitted; its shots are kept)")
        self.stdout.write(f"  {report.scenes_unchanged} scene(s) unchanged, {len(report.cast_added)} cast member(s) added "
                          f"({', '.join('@' + h for h in report.cast_added) or 'none'}), {report.shots_created} shot(s) created.")
