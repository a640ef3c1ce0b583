"""The Segment-spec event envelope shared by the web and app connectors.

Raw columns keep the Segment names of the envelope (`messageId`, `anonymousId`, ...; nested
objects as JSON text) and add flattened snake_case columns for what analysts query (traits,
order fields, consent, page, device).
"""
from __future__ import annotations

from connectors.validation import Check, Field, RecordSpec


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
        # Flattened: identity and commerce fields analysts (and staging) read.
        Field("traits.email", column="email"),
        Field("traits.phone", column="phone"),
        Field("traits.firstName", column="first_name"),
        Field("traits.lastName", column="last_name"),
        Field("traits.name", column="full_name"),
        Field("traits.birthday", column="birth_date"),
        Field("traits.address.street", column="street"),
        Field("traits.address.city", column="city"),
        Field("traits.address.postalCode", column="postcode"),
        Field("traits.address.state", column="region"),
        Field("traits.address.country", column="country"),
        Field("properties.order_id", column="order_id"),
        Field("properties.revenue", "decimal", column="revenue"),
        Field("properties.currency", column="currency"),
        Field("context.ip", column="ip"),
        Field("context.userAgent", column="user_agent"),
        Field("context.locale", column="locale"),
        Field("context.page.url", column="page_url"),
        Field("context.consent.categoryPreferences.marketing", "boolean", column="consent_marketing"),
        Field("context.consent.categoryPreferences.analytics", "boolean", column="consent_analytics"),
    )


ANONYMOUS_OR_USER = Check("missing_field", "anonymousId", "anonymousId IS NULL AND userId IS NULL")


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
