import sys
import time

from django.core.exceptions import ValidationError
from django.core.management import BaseCommand, CommandError

from studio import selectors
from studio.management.commands._common import progress_bar
from studio.models import Take, TakeStatus
from studio.services.takes import take_rerender_exact


class Command(BaseCommand):
    help = ("Render exactly this take again (same backend, revision, seed, reference bytes and parameters) and, "
            "with --wait, say whether the new frames match the old ones.")

    def add_arguments(self, parser):
        parser.add_argument("take_id", type=int)
        parser.add_argument("--wait", action="store_true", help="Wait for the render, then compare content hashes.")
        parser.add_argument("--timeout", type=float, default=3600)

    def handle(self, *args, take_id, wait, timeout, **options):
        take = Take.objects.live().select_related("shot__scene__project").filter(pk=take_id).first()
        if take is None:
            raise CommandError(f"No take with id {take_id}.")
        try:
            again = take_rerender_exact(take=take, actor=None)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"Shot {take.shot.code}: take {again.number} (id {again.id}) queued as an exact re-render "
                          f"of take {take.number} (id {take.id}).")
        if wait:
            again = self._wait(again, timeout)
            comparison = selectors.rerender_comparison(again)
            self.stdout.write(comparison["text"])
            if again.status != TakeStatus.SUCCEEDED:
                raise CommandError(f"Take {again.number} {again.status}: {again.error}")

    def _wait(self, take: Take, timeout: float) -> Take:
        deadline = time.monotonic() + timeout
        while True:
            take.refresh_from_db()
            sys.stdout.write(f"\r{progress_bar(1.0 if take.status == TakeStatus.SUCCEEDED else take.progress)}  {take.status}")
            sys.stdout.flush()
            if take.is_final:
                self.stdout.write("")
                return take
            if time.monotonic() > deadline:
                raise CommandError("\nTimed out waiting for the render.")
            time.sleep(0.5)
