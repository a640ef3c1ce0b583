"""Web events: Segment-spec NDJSON (page, track, identify, alias), plain or gzip."""
from __future__ import annotations

from config.sources import EventSourceSettings
from connectors.base import Connector, FileInput, Stream, staging_spec
from connectors.segment import event_spec, event_staging_values

WEB_TYPES = ("page", "track", "identify", "alias")


class WebConnector(Connector):
    name = "web"
    config_model = EventSourceSettings

    def streams(self) -> list[Stream]:
        return [Stream(
            name="web_events",
            spec=event_spec(WEB_TYPES),
            primary_key="messageId",
            inputs=(FileInput(tuple(self.settings.files), "ndjson"),),
            staging=staging_spec(self.settings, "web", "web_events", "type", event_staging_values()),
        )]
