from django.apps import AppConfig
from django.core import checks

from studio.checks import csrf_cookie_readable_check, ffmpeg_binary_check


class StudioConfig(AppConfig):
    name = "studio"
    verbose_name = "Continuity studio"

    def ready(self) -> None:
        checks.register(ffmpeg_binary_check)
        checks.register(csrf_cookie_readable_check, checks.Tags.security)
        from studio import auth_backends  # noqa: F401  # lazy: models load first; its receiver forgets a changed user in every process
        from studio.services import api_tokens  # noqa: F401  # lazy: its cache receivers connect once models load
