"""WSGI entry point for HTTP only, for a production web tier that is not Daphne.

Pages are synchronous Django views; under Daphne each process runs them one at a time on one
thread, so HTTP throughput is a process's. Gunicorn with a worker per core serves them without
the ASGI thread hop (bench/bench_board_page.py measures both). WebSockets (/ws/) still go to
Daphne (studio.asgi): the proxy in front routes them there.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
application = get_wsgi_application()

from studio.body_limits import LimitWSGIBody  # noqa: E402  (needs Django set up first)

# Bodies counted as they are read, chunked ones included, and refused with 413 past their cap.
application = LimitWSGIBody(application)
