"""Orders: the store's CSV drops and the web shop's SQL table, one merge stream keyed on order_id.

The SQL table's rows change in place (a refund updates `status` and `updated_at`): the stream is
a merge: a row with a newer `updated_at` than the stored version replaces it (the raw view shows
the latest version; every version stays in Parquet).
"""
from __future__ import annotations

from config.sources import TransactionSourceSettings
from connectors.base import Connector, FileInput, SqlInput, StagingPart, Stream, staging_spec
from connectors.validation import Field, RecordSpec

ORDERS = RecordSpec(
    fields=(
        Field("order_id", required=True),
        Field("channel", allowed=("web", "store")),
        Field("created_at", "timestamp", required=True, no_future=True),
        Field("updated_at", "timestamp", no_future=True),
        Field("status", allowed=("completed", "refunded", "cancelled")),
        Field("amount", "decimal", required=True),
        Field("currency", pattern="[A-Z]{3}"),
        Field("items", "json_text"),
        Field("customer_account_id"),
        Field("email"),
        Field("phone"),
        Field("first_name"),
        Field("last_name"),
        Field("billing_street"),
        Field("billing_city"),
        Field("billing_postcode"),
        Field("billing_region"),
        Field("billing_country", pattern="[A-Za-z]{2}"),
    ),
    derived=(
        ("event_time", "TIMESTAMP", "created_at__ts"),
        # The version a merge compares: when the row last changed.
        ("version_time", "TIMESTAMP", "coalesce(updated_at__ts, created_at__ts)"),
    ),
    record_id="order_id",
)


class TransactionsConnector(Connector):
    name = "transactions"
    config_model = TransactionSourceSettings

    def streams(self) -> list[Stream]:
        s = self.settings
        inputs: list = [FileInput(tuple(s.files), "csv")]
        url = s.database_url(self.folder)
        if url:
            # A SQLite file is named like the other files of the folder (as truth.parquet names it).
            label = (f"{self.folder.name}/{s.sqlite_file}" if url.startswith("sqlite:") and s.sqlite_file
                     else f"sql:{s.table}")
            inputs.append(SqlInput(url=url, table=s.table, cursor_column=s.cursor_column, label=label))
        return [Stream(
            name="orders", spec=ORDERS, primary_key="order_id", disposition="merge", version="version_time",
            inputs=tuple(inputs),
            staging=staging_spec(s, "transactions", "orders", "'order'", {
                "record_id": "order_id", "user_id": "NULLIF(customer_account_id, '')", "email": "email",
                "phone": "phone", "first_name": "first_name", "last_name": "last_name",
                "street": "billing_street", "city": "billing_city", "postcode": "billing_postcode",
                "region": "billing_region", "country": "billing_country", "order_id": "order_id"}, (
                StagingPart("orders", {"order_id": "order_id", "channel": "channel", "status": "status",
                                       "amount": "amount", "currency": "currency", "created_at": "event_time",
                                       "updated_at": "version_time"}),)),
        )]
