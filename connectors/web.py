"""Web events: Segment-spec NDJSON (all six call types), plain or gzip."""
from __future__ import annotations

from config.sources import EventSourceSettings
from connectors.base import Connector, FileInput, Stream, staging_spec
from connectors.segment import CALL_TYPES, event_spec, event_staging_parts, event_staging_values

# Every Segment call type: a web page may send screen calls too, an app page and group calls.
WEB_TYPES = CALL_TYPES


class WebConnector(Connector):
    name = "web"
    config_model = EventSourceSettings

    def streams(self) -> list[Stream]:
        return [Stream(
            name="web_events",
            spec=event_spec(WEB_TYPES),
            primary_key="messageId",
            inputs=(FileInput(tuple(self.settings.files), "ndjson"),),
            staging=staging_spec(self.settings, "web", "web_events", "type", event_staging_values(), event_staging_parts()),
        )]
