"""WebSocket: authorise, join the project's group, send a snapshot, then forward events."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from studio import access, events, selectors
from studio.models import Project

CLOSE_NOT_FOUND = 4404


class ProjectConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.project_id = await self._authorised_project_id()
        if self.project_id is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.username = self.scope["user"].get_username()
        await self.accept()
        # Join before the snapshot so no event can fall between the two; duplicates are harmless.
        await events.join_project(self.project_id, self.channel_name, self.username)
        await events.join_user(self.scope["user"].id, self.channel_name)  # this person's notifications
        await self.send_json(await self._snapshot())

    async def disconnect(self, code):
        if getattr(self, "project_id", None) is not None:
            await events.leave_project(self.project_id, self.channel_name, self.username)
            await events.leave_user(self.scope["user"].id, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "resync":
            await self.send_json(await self._snapshot())

    async def project_event(self, message):
        await self.send_json(message["event"])

    async def presence_message(self, message):
        reply_to = message.get("reply_to")
        if reply_to and reply_to != self.channel_name:
            await events.answer_presence(reply_to, self.channel_name, self.username)
        if reply_to != self.channel_name:
            await self.send_json(message["event"])

    async def member_removed(self, message):
        if message["user_id"] == self.scope["user"].id:
            await self.close(code=CLOSE_NOT_FOUND)

    @database_sync_to_async
    def _authorised_project_id(self) -> int | None:
        try:
            return access.project_for(self.scope["user"], self.scope["url_route"]["kwargs"]["slug"]).id
        except Http404:
            return None

    @database_sync_to_async
    def _snapshot(self) -> dict:
        return selectors.project_snapshot(Project.objects.get(pk=self.project_id))
