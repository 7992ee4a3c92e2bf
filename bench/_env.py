"""Throwaway storage for the Django benches: a temporary database, media folder and (unless
CONTINUITY_VAR_DIR or REDIS_URL says otherwise) an embedded Redis, all removed at the end.

    with throwaway_storage("bench-board-") as scratch:
        setup_django(migrate=True)
        ...

The environment is fixed before Django's settings load, so child processes (servers, workers)
started inside the block inherit the same database and Redis.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def throwaway_storage(prefix: str) -> Iterator[Path]:
    own_var_dir = "CONTINUITY_VAR_DIR" not in os.environ
    if own_var_dir:
        os.environ["CONTINUITY_VAR_DIR"] = tempfile.mkdtemp(prefix="bench-var-")
    Path(os.environ["CONTINUITY_VAR_DIR"]).mkdir(parents=True, exist_ok=True)  # a var dir named but not made yet
    scratch = Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ["CONTINUITY_VAR_DIR"]))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{scratch / 'bench.sqlite3'}")
    os.environ.setdefault("MEDIA_ROOT", str(scratch / "media"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if own_var_dir:  # the embedded Redis we caused to start, and its folder
            from studio import embedded_redis

            embedded_redis.stop(Path(os.environ["CONTINUITY_VAR_DIR"]))
            shutil.rmtree(os.environ["CONTINUITY_VAR_DIR"], ignore_errors=True)


def setup_django(migrate: bool = False) -> None:
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
