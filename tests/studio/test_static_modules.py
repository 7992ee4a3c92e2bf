"""The front end's ES modules in production: collectstatic gives every module a content-hashed
name and rewrites the imports between them to those names, so a page loads one consistent set
(a hashed file is cached for ever; an unhashed import could be an older copy)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
IMPORT = re.compile(r"""\bfrom\s*["']([./][^"']*)["']""")


def _collect_for_production(static_root: Path, var_dir: Path) -> dict[str, str]:
    env = {**{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}, "DEBUG": "0",
           "SECRET_KEY": "x" * 20 + "-production-key-with-enough-entropy-0123456789", "ALLOWED_HOSTS": "studio.example.com",
           "CONTINUITY_VAR_DIR": str(var_dir), "STATIC_ROOT": str(static_root), "REDIS_URL": settings.REDIS_URL}
    result = subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((static_root / "staticfiles.json").read_text())["paths"]


def test_collected_modules_import_each_other_by_their_hashed_names(tmp_path):
    static_root = tmp_path / "static"
    hashed = _collect_for_production(static_root, tmp_path / "var")
    modules = sorted(name for name in hashed if name.startswith("studio/") and name.endswith(".js"))
    assert {"studio/app.js", "studio/timecode.js", "studio/live.js", "studio/http.js"} <= set(modules)
    original_of = {served: name for name, served in hashed.items()}
    imported = set()
    for module in modules:
        served = static_root / hashed[module]
        for target in IMPORT.findall(served.read_text()):
            path = (served.parent / target).resolve().relative_to(static_root.resolve()).as_posix()
            assert path in original_of, f"{module} imports {target}, which is not a hashed file"
            imported.add(original_of[path])
    # Every module but the entry points (app.js on every page, one per page) is imported; the one
    # classic script, which fills the cached board's CSRF token before any module runs, is loaded
    # by base.html itself.
    classic_scripts = {"studio/csrf-from-cookie.js"}
    assert classic_scripts <= set(modules)
    entry_points = {m for m in modules if m == "studio/app.js" or m.startswith("studio/pages/")} | classic_scripts
    assert imported == set(modules) - entry_points
