"""The ``channels`` section, composed from the platforms' own app models (each adapter owns its
``settings.py``; the composition root passes them in).

A channel's top-level fields describe its default app, reached at ``/webhooks/<platform>``;
``apps`` adds further named apps of the same platform at ``/webhooks/<platform>/<name>``.
A channel with no credentials is off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, Field, create_model

from bot.settings.base import StrictModel


class ChannelsBase(StrictModel):
    """What the rest of the bot asks of the channels section, whatever the platforms are."""

    app_models: ClassVar[Mapping[str, type[BaseModel]]] = {}

    def apps_of(self, platform: str) -> dict[str, Any]:
        """Every enabled app of a platform by name; the top-level one is "default"."""
        channel = getattr(self, platform)
        apps = {"default": self.app_models[platform](**channel.model_dump(exclude={"apps"}))}
        apps.update(channel.apps)
        return {name: app for name, app in apps.items() if getattr(app, "enabled", True)}


def compose_channels(app_models: Mapping[str, type[BaseModel]]) -> type[ChannelsBase]:
    """A channels model with one field per platform: its app's fields plus ``apps`` by name."""
    fields: dict[str, Any] = {}
    for platform, app in app_models.items():
        apps = dict[str, app]  # type: ignore[valid-type]  # the app model is only known at run time
        channel = create_model(f"{app.__name__}Channel", __base__=app, apps=(apps, Field(default_factory=dict)))
        fields[platform] = (channel, Field(default_factory=channel))
    model = create_model("Channels", __base__=ChannelsBase, **fields)
    model.app_models = dict(app_models)
    return model
