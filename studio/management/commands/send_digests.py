"""E-mail each person one digest of the notifications they chose to receive daily (run it once a day)."""

from __future__ import annotations

from django.core.management import BaseCommand

from studio.services.notifications import send_digests


class Command(BaseCommand):
    help = "Send the daily notification digests (one e-mail per person; members of the project only)."

    def handle(self, *args, **options):
        sent = send_digests()
        self.stdout.write(f"Sent {sent} digest{'s' if sent != 1 else ''}.")
