import sys
import time

from django.core.exceptions import ValidationError
from django.core.management import BaseCommand, CommandError

from studio.management.commands._common import progress_bar, project_and_cut, project_owner
from studio.models import Take, TakeStatus
from studio.services.cuts import cut_render


class Command(BaseCommand):
    help = "Render every shot of a cut that is not already rendered (unchanged shots reuse their take)."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True)
        parser.add_argument("--cut", required=True)
        parser.add_argument("--wait", action="store_true", help="Show progress until every take is final.")
        parser.add_argument("--timeout", type=float, default=3600)

    def handle(self, *args, project, cut, wait, timeout, **options):
        project_obj, cut_obj = project_and_cut(project, cut)
        try:
            results = cut_render(cut=cut_obj, actor=project_owner(project_obj))
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        dispatched = sum(r.dispatched for r in results)
        self.stdout.write(f"{len(results)} shot(s): {dispatched} render(s) dispatched, {len(results) - dispatched} already rendered or in progress.")
        if wait:
            self._wait([r.take.id for r in results], timeout)

    def _wait(self, take_ids: list[int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            takes = list(Take.objects.filter(pk__in=take_ids).values("status", "progress"))
            done = sum(t["status"] in (TakeStatus.SUCCEEDED, TakeStatus.FAILED, TakeStatus.CANCELLED) for t in takes)
            fraction = sum(1.0 if t["status"] == TakeStatus.SUCCEEDED else t["progress"] for t in takes) / max(1, len(takes))
            sys.stdout.write(f"\r{progress_bar(fraction)}  {done}/{len(takes)} final")
            sys.stdout.flush()
            if done == len(takes):
                break
            if time.monotonic() > deadline:
                raise CommandError("\nTimed out waiting for renders.")
            time.sleep(0.5)
        failed = Take.objects.filter(pk__in=take_ids).exclude(status=TakeStatus.SUCCEEDED)
        self.stdout.write("")
        for take in failed.select_related("shot"):
            self.stderr.write(f"Shot {take.shot.code} take {take.number}: {take.status}: {take.error}")
        if failed.exists():
            raise CommandError("Some renders did not succeed.")
        self.stdout.write(self.style.SUCCESS("All takes rendered."))
