"""The Segment-spec event envelope shared by the web and app connectors.

Raw columns keep the Segment names of the envelope (`messageId`, `anonymousId`, ...; nested
objects as JSON text) and add flattened snake_case columns for what analysts query (traits,
order fields, consent, page, device).
"""
from __future__ import annotations

from connectors.validation import Check, Field, RecordSpec, blank


def envelope_fields(types: tuple[str, ...]) -> tuple[Field, ...]:
    return (
        Field("messageId", required=True),
        Field("type", required=True, allowed=types),
        Field("timestamp", "timestamp", required=True, no_future=True),
        Field("anonymousId"),
        Field("userId"),
        Field("previousId", required="type = 'alias'"),
        Field("event", required="type = 'track'"),
        Field("name"),
        Field("properties", "object"),
        Field("traits", "object"),
        Field("context", "object"),
        # Flattened copies of nested attributes analysts (and staging) read, as found: their parent
        # object is type-checked above, a stray type inside it does not cost the event.
        Field("traits.email", column="email", strict=False),
        Field("traits.phone", column="phone", strict=False),
        Field("traits.firstName", column="first_name", strict=False),
        Field("traits.lastName", column="last_name", strict=False),
        Field("traits.name", column="full_name", strict=False),
        Field("traits.birthday", column="birth_date", strict=False),
        Field("traits.address.street", column="street", strict=False),
        Field("traits.address.city", column="city", strict=False),
        Field("traits.address.postalCode", column="postcode", strict=False),
        Field("traits.address.state", column="region", strict=False),
        Field("traits.address.country", column="country", strict=False),
        Field("properties.order_id", column="order_id", strict=False),
        Field("properties.revenue", "decimal", column="revenue", strict=False),
        Field("properties.currency", column="currency", strict=False),
        Field("context.ip", column="ip", strict=False),
        Field("context.userAgent", column="user_agent", strict=False),
        Field("context.locale", column="locale", strict=False),
        Field("context.page.url", column="page_url", strict=False),
        Field("context.consent.categoryPreferences.marketing", "boolean", column="consent_marketing", strict=False),
        Field("context.consent.categoryPreferences.analytics", "boolean", column="consent_analytics", strict=False),
    )


# Blank ids identify nobody: "" or "  " counts as missing, as in the Segment spec.
ANONYMOUS_OR_USER = Check("missing_field", "anonymousId",
                          f"coalesce({blank('anonymousId')}, true) AND coalesce({blank('userId')}, true)")


def event_spec(types: tuple[str, ...], extra: tuple[Field, ...] = ()) -> RecordSpec:
    return RecordSpec(
        fields=envelope_fields(types) + extra,
        derived=(("event_time", "TIMESTAMP", "timestamp__ts"),),
        checks=(ANONYMOUS_OR_USER,),
        record_id="messageId",
    )


def event_staging_values(device_id: str | None = None) -> dict[str, str]:
    values = {
        "record_id": "messageId", "anonymous_id": "anonymousId", "previous_id": "previousId",
        "user_id": "userId", "email": "email", "phone": "phone", "first_name": "first_name",
        "last_name": "last_name", "full_name": "full_name", "street": "street", "city": "city",
        "postcode": "postcode", "region": "region", "country": "country", "birth_date": "birth_date",
        # Only a completed order ties the visitor to an order id; a viewed or refunded one does not.
        "order_id": "CASE WHEN event = 'Order Completed' THEN order_id END",
    }
    if device_id:
        values["device_id"] = device_id
    return values
