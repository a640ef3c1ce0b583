"""The Segment-spec event envelope shared by the web and app connectors.

Raw columns keep the Segment names of the envelope (`messageId`, `anonymousId`, `sentAt`,
`receivedAt`, `originalTimestamp`, `groupId`, `integrations`, ...; nested objects as JSON) and add
flattened snake_case columns for what analysts query (traits, order fields, consent, page,
device). All six call types are accepted on the web and in the app; fields the spec has that we do
not declare (`_metadata`, `version`, ...) stay in the `extra` JSON column (schema contract).
"""
from __future__ import annotations

from connectors.validation import Check, Field, RecordSpec, blank


# Every call type of the Segment spec, on the web and in the app alike.
CALL_TYPES = ("page", "screen", "track", "identify", "group", "alias")

# Person traits: in `traits` of identify, else in `context.traits` (what Segment's libraries attach
# to every call once a user is identified).
_TRAIT_PATHS = (
    ("email", "email"), ("phone", "phone"), ("firstName", "first_name"), ("lastName", "last_name"),
    ("name", "full_name"), ("birthday", "birth_date"), ("address.street", "street"),
    ("address.city", "city"), ("address.postalCode", "postcode"), ("address.state", "region"),
    ("address.country", "country"),
)

# When `timestamp` is absent, Segment's own correction of the device clock:
# timestamp = receivedAt - (sentAt - originalTimestamp); else originalTimestamp, else receivedAt.
_CORRECTED = ('"receivedAt__ts" - ("sentAt__ts" - "originalTimestamp__ts")')
EVENT_TIME_SQL = f'coalesce("timestamp__ts", {_CORRECTED}, "originalTimestamp__ts", "receivedAt__ts")'


def envelope_fields(types: tuple[str, ...]) -> tuple[Field, ...]:
    return (
        # Ids may be sent as numbers (a numeric userId): kept as their text.
        Field("messageId", "id", required=True),
        Field("type", required=True, allowed=types),
        Field("timestamp", "timestamp", no_future=True),
        Field("originalTimestamp", "timestamp", no_future=True),
        Field("sentAt", "timestamp"),
        Field("receivedAt", "timestamp", no_future=True),
        Field("anonymousId", "id"),
        Field("userId", "id"),
        Field("previousId", "id", required="type = 'alias'"),
        Field("groupId", "id", required="type = 'group'"),
        Field("event", required="type = 'track'"),
        Field("name"),
        Field("category"),
        Field("channel"),
        Field("properties", "object"),
        Field("traits", "object"),
        Field("context", "object"),
        Field("integrations", "object"),
        # Flattened copies of nested attributes analysts (and staging) read, as found: their parent
        # object is type-checked above, a stray type inside it does not cost the event.
        *(Field(f"traits.{path}", column=column, strict=False, fallbacks=(f"context.traits.{path}",))
          for path, column in _TRAIT_PATHS),
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


# A record must say when it happened: one of timestamp, originalTimestamp, receivedAt.
SOME_TIME = Check("missing_field", "timestamp",
                  "NOT {present:timestamp} AND NOT {present:originalTimestamp} AND NOT {present:receivedAt}")
# The corrected time must be one every reader can hold, and not in the future.
CORRECTED_IN_RANGE = Check("wrong_type", "timestamp",
                           "{derived:event_time} NOT BETWEEN TIMESTAMP '0001-01-01' AND TIMESTAMP '9999-12-31'")
CORRECTED_NOT_FUTURE = Check("future_timestamp", "timestamp", "{derived:event_time} > {future_limit}")


# Blank ids identify nobody: "" or "  " counts as missing, as in the Segment spec.
ANONYMOUS_OR_USER = Check("missing_field", "anonymousId",
                          f"coalesce({blank('anonymousId')}, true) AND coalesce({blank('userId')}, true)")


def event_spec(types: tuple[str, ...] = CALL_TYPES, extra: tuple[Field, ...] = ()) -> RecordSpec:
    return RecordSpec(
        fields=envelope_fields(types) + extra,
        derived=(("event_time", "TIMESTAMP", EVENT_TIME_SQL),),
        checks=(ANONYMOUS_OR_USER, SOME_TIME, CORRECTED_IN_RANGE, CORRECTED_NOT_FUTURE),
        record_id="messageId",
    )


def _person(column: str) -> str:
    # A group call's traits are the account's (its name, its billing email), not the person's.
    return f"CASE WHEN type <> 'group' THEN {column} END"


def event_staging_values(device_id: str | None = None) -> dict[str, str]:
    values = {
        "record_id": "messageId", "anonymous_id": "anonymousId", "previous_id": "previousId",
        "user_id": "userId",
        **{c: _person(c) for c in ("email", "phone", "first_name", "last_name", "full_name", "street", "city",
                                   "postcode", "region", "country", "birth_date")},
        # Only a completed order ties the visitor to an order id; a viewed or refunded one does not.
        "order_id": "CASE WHEN event = 'Order Completed' THEN order_id END",
    }
    if device_id:
        values["device_id"] = device_id
    return values


def event_staging_parts() -> tuple:
    """What a web or app event feeds besides identity: its consent statements (Segment's
    context.consent.categoryPreferences) and, for a group call, the account it names."""
    from connectors.base import StagingPart

    consent = tuple(
        StagingPart("consent_statements", {"purpose": f"'{purpose}'", "granted": f"consent_{purpose}",
                                           "stated_at": "event_time"}, where=f"consent_{purpose} IS NOT NULL")
        for purpose in ("marketing", "analytics"))
    group = StagingPart("account_memberships", {"group_id": "groupId", "traits": "traits", "event_time": "event_time"},
                        where="type = 'group'")
    return consent + (group,)
