"""Run the render reconciler once (beat runs it every minute) and print what it did."""

from __future__ import annotations

from django.core.management import BaseCommand

from studio.services.reconcile import reconcile


class Command(BaseCommand):
    help = "Resend lost render messages, requeue renders whose worker went silent, fail exhausted ones."

    def handle(self, *args, **options):
        report = reconcile()
        self.stdout.write(str(report))
