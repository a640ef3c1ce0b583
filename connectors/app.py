"""App events: Segment-spec mobile NDJSON (all six call types), plain or gzip."""
from __future__ import annotations

from config.sources import EventSourceSettings
from connectors.base import Connector, FileInput, Stream, staging_spec
from connectors.segment import CALL_TYPES, event_spec, event_staging_parts, event_staging_values
from connectors.validation import Field

# Every Segment call type: a web page may send screen calls too, an app page and group calls.
APP_TYPES = CALL_TYPES

DEVICE_FIELDS = (
    Field("context.device.id", column="device_id", strict=False),
    Field("context.device.manufacturer", column="device_manufacturer", strict=False),
    Field("context.device.model", column="device_model", strict=False),
    Field("context.device.type", column="device_type", strict=False),
    Field("context.app.name", column="app_name", strict=False),
    Field("context.app.version", column="app_version", strict=False),
    Field("context.os.name", column="os_name", strict=False),
    Field("context.os.version", column="os_version", strict=False),
)


class AppConnector(Connector):
    name = "app"
    config_model = EventSourceSettings

    def streams(self) -> list[Stream]:
        return [Stream(
            name="app_events",
            spec=event_spec(APP_TYPES, DEVICE_FIELDS),
            primary_key="messageId",
            inputs=(FileInput(tuple(self.settings.files), "ndjson"),),
            staging=staging_spec(self.settings, "app", "app_events", "type",
                                 event_staging_values(device_id="device_id"), event_staging_parts()),
        )]
