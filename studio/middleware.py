"""Security headers Django 5.2 does not set itself: a Content-Security-Policy.

Everything the studio loads is its own (no CDN, no inline scripts), so the policy is strict;
inline style attributes remain allowed for progress bars and aspect ratios.
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings


class ContentSecurityPolicyMiddleware:
    async_capable = True
    sync_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        return self._with_policy(self.get_response(request))

    async def _acall(self, request):
        return self._with_policy(await self.get_response(request))

    @staticmethod
    def _with_policy(response):
        response.headers.setdefault("Content-Security-Policy", settings.CONTINUITY_CONTENT_SECURITY_POLICY)
        return response
