from django.core.management import BaseCommand

from studio.services.demo import DEMO_PASSWORD, DEMO_USER, demo_project_ensure


class Command(BaseCommand):
    help = "Create the demo user and the demo project (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--backend", default="animatic")

    def handle(self, *args, backend, **options):
        project, created = demo_project_ensure(backend=backend)
        verb = "Created" if created else "Found"
        self.stdout.write(f"{verb} the demo project {project.name!r} (/{project.slug}); log in as {DEMO_USER} / {DEMO_PASSWORD}.")
