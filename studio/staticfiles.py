"""Static files in production: WhiteNoise's compressed, content-hashed copies, with the imports
inside the front end's ES modules (static/studio/) rewritten to the hashed names as well. Without
that, a hashed app.js (cached for ever) would import an unhashed live.js, and a browser could run
a new module against an old one it imports after a deploy."""

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage

# Django's own import-rewriting patterns (the ones `support_js_module_import_aggregation` turns on
# for every *.js), applied to our modules only: vendored and third-party scripts (django-htmx's
# extensions) import names that are not files, which would stop collectstatic.
_ANY_JS, _MODULE_IMPORTS = ManifestStaticFilesStorage._js_module_import_aggregation_patterns


class ModuleStaticFilesStorage(CompressedManifestStaticFilesStorage):
    patterns = CompressedManifestStaticFilesStorage.patterns + (("studio/*.js", _MODULE_IMPORTS),)
