"""Delete for good what has been in the trash longer than it can be restored (30 days)."""

from __future__ import annotations

from django.core.management import BaseCommand

from studio.selectors import TRASH_KEEP_DAYS
from studio.services.trash import trash_purge


class Command(BaseCommand):
    help = "Delete rows trashed more than 30 days ago, and the media files only they used."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=TRASH_KEEP_DAYS,
                            help=f"purge what was trashed more than this many days ago (default {TRASH_KEEP_DAYS})")

    def handle(self, *args, days: int, **options):
        counts = trash_purge(days=max(days, 0))
        summary = ", ".join(f"{count} {kind}" for kind, count in counts.items())
        self.stdout.write(f"Purged: {summary}.")
