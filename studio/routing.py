from django.urls import path

from studio import consumers

websocket_urlpatterns = [
    path("ws/projects/<slug:slug>/", consumers.ProjectConsumer.as_asgi()),
]
