"""Run the whole studio on this machine: migrate, seed the demo, then the ASGI server and Celery
workers (and the embedded Redis when REDIS_URL is unset), until Ctrl-C stops all of them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import BaseCommand, call_command

from studio import embedded_redis


class Command(BaseCommand):
    help = "Migrate, load the demo project and run the web server and workers until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--no-demo", action="store_true", help="Do not create the demo project.")

    def handle(self, *args, host, port, no_demo, **options):
        call_command("migrate", interactive=False, verbosity=0)
        if not no_demo:
            call_command("seed_demo", with_demo_login=True)  # the one path that creates the demo login
        children = self._start_children(host, port)
        self.stdout.write(self.style.SUCCESS(f"\nContinuity is running at http://{host}:{port}/"))
        if not no_demo:
            self.stdout.write("Demo login: demo / continuity-demo   (press Ctrl-C to stop)\n")
        try:
            self._supervise(children)
        finally:
            self._stop(children)

    def _start_children(self, host: str, port: int) -> dict[str, subprocess.Popen]:
        python = sys.executable
        # Renders get their own worker so an export never waits behind a long render.
        commands = {
            # Daphne with request bodies capped as they arrive and kept on disk (studio/daphne_server.py).
            "web": [python, "-m", "studio.daphne_server", "-b", host, "-p", str(port), "studio.asgi:application"],
            "render-worker": [python, "-m", "celery", "-A", "studio", "worker", "-Q", "gpu", "--concurrency", "1",
                              "--prefetch-multiplier", "1", "-n", "render@%h", "--loglevel", "INFO"],
            "worker": [python, "-m", "celery", "-A", "studio", "worker", "-Q", "default", "--concurrency", "1",
                       "-n", "default@%h", "--loglevel", "INFO", "-B"],  # -B: beat runs the render reconciler
        }
        if settings.CONTINUITY_IDENTITY_SCORING:  # scores finished takes on its own queue, off the render's path
            commands["identity-worker"] = [python, "-m", "celery", "-A", "studio", "worker", "-Q", settings.CONTINUITY_IDENTITY_QUEUE,
                                           "--concurrency", "1", "--prefetch-multiplier", "1", "-n", "identity@%h", "--loglevel", "INFO"]
        env = {**os.environ, "REDIS_URL": settings.REDIS_URL}
        return {name: subprocess.Popen(cmd, env=env, cwd=settings.BASE_DIR) for name, cmd in commands.items()}

    def _supervise(self, children: dict[str, subprocess.Popen]) -> None:
        stop = {"now": False}
        signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
        try:
            while not stop["now"]:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with code {child.returncode}; stopping the studio.")
                        return
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")

    def _stop(self, children: dict[str, subprocess.Popen]) -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        if settings.EMBEDDED_REDIS:  # stops it unless another process (e.g. a manage.py shell) still uses it
            embedded_redis.release()
        self.stdout.write("Stopped.")
