from django.core.management import BaseCommand
from django.urls import reverse

from studio.services.demo import DEMO_PASSWORD, DEMO_USER, demo_project_ensure

DEMO_LOGIN_WARNING = (
    f"WARNING: {DEMO_USER} / {DEMO_PASSWORD} is a superuser with a published password. It is for trying "
    "the studio on your own machine only; on a real install create your own with `manage.py createsuperuser`."
)


class Command(BaseCommand):
    help = "Create the demo project (idempotent); --with-demo-login also lets its owner sign in."

    def add_arguments(self, parser):
        parser.add_argument("--backend", default="animatic")
        parser.add_argument("--with-demo-login", action="store_true",
                            help=f"Make {DEMO_USER!r} a superuser with the published password {DEMO_PASSWORD!r} (a local demo only).")

    def handle(self, *args, backend, with_demo_login, **options):
        project, created = demo_project_ensure(backend=backend, with_login=with_demo_login)
        verb = "Created" if created else "Found"
        self.stdout.write(f"{verb} the demo project {project.name!r} at {reverse('project_home', args=[project.slug])}.")
        if with_demo_login:
            self.stdout.write(f"Log in as {DEMO_USER} / {DEMO_PASSWORD}.")
            self.stderr.write(self.style.WARNING(DEMO_LOGIN_WARNING))
        else:
            self.stdout.write(f"Its owner {DEMO_USER!r} cannot sign in (--with-demo-login, for a local demo only, lets it).")
