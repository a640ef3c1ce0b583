"""Who the person is: from an email or a customer id to every record and identifier of theirs.

`find_subject(con, email=... | customer_id=...)` follows identity: the normalized email -> their
records (`identity.normalized_records`, `staging.customer_records`, `profiles.golden`) -> customer
ids (+ ids merged into them via `identity.id_history`) -> their emails, phones (as typed and
E.164), user ids, social handles and order ids. Device and anonymous ids are gathered but never
searched as values (a family tablet is shared), nor are names (not unique).

`needles()` / `needle_pattern()` turn the identifiers into one boundary-aware regex used by the
erasure to find rows and lines anywhere (raw Parquet, table rows, files).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb
import polars as pl

from profiles.crm_sync._sql import columns_of, quote_ident, relation_exists, temp_table_from_rows
from warehouse.suppression import canonical_emails, canonical_phones, sha256_hex

RECORD_COLUMNS = [("source", "VARCHAR"), ("record_id", "VARCHAR")]

# Identifiers shorter than this are never searched as free values (too likely to collide).
_MIN_NEEDLE = 6


# ---------------------------------------------------------------- normalization (identity.normalize)

def normalize_emails(values: list[str]) -> dict[str, str | None]:
    """Raw email -> normalized email, as identity normalizes it (warehouse.suppression)."""
    values = [v for v in dict.fromkeys(values) if v is not None]
    if not values:
        return {}
    normalized = canonical_emails(pl.Series(values, dtype=pl.String)).to_list()
    return dict(zip(values, normalized))


def normalize_phones(pairs: list[tuple[str, str | None]],
                     default_region: str | None = None) -> dict[tuple[str, str | None], str | None]:
    """(raw phone, country) -> E.164, or None, as identity normalizes it."""
    pairs = [p for p in dict.fromkeys(pairs) if p[0] is not None]
    if not pairs:
        return {}
    phones = pl.Series([p[0] for p in pairs], dtype=pl.String)
    countries = pl.Series([p[1] for p in pairs], dtype=pl.String)
    normalized = canonical_phones(phones, countries, default_region).to_list()
    return dict(zip(pairs, normalized))


# ---------------------------------------------------------------- the subject

@dataclass
class Subject:
    """Everything that identifies the person, gathered once."""

    customer_ids: set[str] = field(default_factory=set)
    records: set[tuple[str, str]] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)       # normalized
    phones: set[str] = field(default_factory=set)       # E.164
    user_ids: set[str] = field(default_factory=set)
    anonymous_ids: set[str] = field(default_factory=set)
    social_handles: set[str] = field(default_factory=set)  # lowercase, no @
    order_ids: set[str] = field(default_factory=set)
    raw_spellings: set[str] = field(default_factory=set)  # emails/phones as typed in the sources

    def suppression_entries(self) -> list[tuple[str, str]]:
        """(kind, normalized value) pairs whose hashes are kept."""
        entries = [("email", e) for e in self.emails] + [("phone", p) for p in self.phones]
        entries += [("user_id", u) for u in self.user_ids]
        entries += [("social_handle", h) for h in self.social_handles]
        # A late version of one of their orders (a refund row) is theirs too.
        entries += [("order_id", o) for o in self.order_ids]
        return sorted(set(entries))

    def needles(self) -> list[str]:
        """Lowercased values searched for anywhere (raw rows, payloads, files)."""
        # Not anonymous ids: an app install id or a browser cookie on a family tablet is shared by the
        # household (measured on the generated sample: a sister's app events matched). The person's own
        # events are reached through record_map instead.
        values = set(self.emails) | set(self.phones) | self.user_ids | self.order_ids
        values |= {p.lstrip("+") for p in self.phones}
        values |= {h for h in self.social_handles} | {"@" + h for h in self.social_handles}
        values |= {s.strip() for s in self.raw_spellings}
        values |= self.customer_ids
        values |= {sha256_hex(v) for v in set(self.emails) | set(self.phones)}
        values |= {sha256_hex(p.lstrip("+")) for p in self.phones}
        # Audience files hash the address as typed, per platform (profiles.exports).
        from profiles.exports import audience_email_forms

        values |= {sha256_hex(form) for typed in self.raw_spellings if "@" in typed
                   for form in audience_email_forms(typed)}
        return sorted({v.lower() for v in values if v and len(v.strip()) >= _MIN_NEEDLE})


def needle_pattern(needles: list[str]) -> str | None:
    """One regex (RE2 and Python compatible) matching any needle on value boundaries."""
    if not needles:
        return None
    alternatives = "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
    return rf"(^|[^a-z0-9._%+@-])({alternatives})($|[^a-z0-9_@-])"


def python_needle_regex(needles: list[str]) -> re.Pattern | None:
    """The same boundaries as `needle_pattern`, as lookarounds (RE2 has none) so that adjacent
    matches (two lines in a row) are all found and a match is just the identifier itself."""
    if not needles:
        return None
    alternatives = "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
    return re.compile(rf"(?<![a-z0-9._%+@-])(?:{alternatives})(?![a-z0-9_@-])", re.IGNORECASE)


def _fetch_set(con, sql: str, params: list | None = None) -> set:
    return {row[0] for row in con.execute(sql, params or []).fetchall() if row[0] is not None}


def find_subject(con: duckdb.DuckDBPyConnection, email: str | None = None,
                 customer_id: str | None = None, phone_regions: dict[str, str | None] | None = None) -> Subject:
    """The person behind `email` or `customer_id`. `phone_regions`: source -> the region a phone
    without a country is read in (config/sources.yaml `default_phone_region`), as identity reads it."""
    phone_regions = phone_regions or {}
    subject = Subject()
    has_norm = relation_exists(con, "identity", "normalized_records")
    has_map = relation_exists(con, "identity", "record_map")
    has_staging = relation_exists(con, "staging", "customer_records")
    has_golden = relation_exists(con, "profiles", "golden")
    if customer_id:
        subject.customer_ids.add(customer_id)
    if email:
        normalized = normalize_emails([email]).get(email) or email.strip().lower()
        subject.emails.add(normalized)
        subject.raw_spellings.add(email.strip())
        direct: set[tuple[str, str]] = set()
        if has_norm:
            direct |= set(con.execute(
                "SELECT source, record_id FROM identity.normalized_records WHERE email = ?", [normalized]
            ).fetchall())
        if has_staging:
            # Raw spellings that normalize to the same address (case, Gmail dots, +tags).
            local, _, domain = normalized.partition("@")
            domains = ["gmail.com", "googlemail.com"] if domain in ("gmail.com", "googlemail.com") else [domain]
            raw = _fetch_set(
                con, "SELECT DISTINCT email FROM staging.customer_records WHERE email IS NOT NULL "
                     "AND list_contains(?, split_part(lower(trim(email)), '@', 2)) "
                     "AND regexp_replace(split_part(lower(trim(email)), '@', 1), '[+].*$|[.]', '', 'g') = ?",
                [domains, re.sub(r"\+.*$|\.", "", local)])
            same = [r for r, n in normalize_emails(sorted(raw)).items() if n == normalized]
            if same:
                direct |= set(con.execute(
                    "SELECT source, record_id FROM staging.customer_records WHERE list_contains(?, email)", [same]
                ).fetchall())
        subject.records |= direct
        if has_map and direct:
            temp_table_from_rows(con, "forget_direct", RECORD_COLUMNS, [list(r) for r in direct])
            subject.customer_ids |= _fetch_set(
                con, "SELECT DISTINCT m.customer_id FROM identity.record_map m "
                     "JOIN forget_direct d USING (source, record_id)")
        if has_golden:
            golden = columns_of(con, "profiles", "golden")
            conditions = ["email = ?"] if "email" in golden else []
            if "emails" in golden:
                conditions.append("list_contains(emails, ?)")
            if conditions:
                subject.customer_ids |= _fetch_set(
                    con, f"SELECT customer_id FROM profiles.golden WHERE {' OR '.join(conditions)}",
                    [normalized] * len(conditions))
    if relation_exists(con, "identity", "id_history") and subject.customer_ids:
        # Old ids merged into (or split from) the person's current ids: CRMs may still hold them.
        for _ in range(5):
            ids = sorted(subject.customer_ids)
            more = _fetch_set(con, "SELECT old_customer_id FROM identity.id_history "
                                   "WHERE list_contains(?, new_customer_id)", [ids])
            if more <= subject.customer_ids:
                break
            subject.customer_ids |= more
    if has_map and subject.customer_ids:
        subject.records |= set(con.execute(
            "SELECT source, record_id FROM identity.record_map WHERE list_contains(?, customer_id)",
            [sorted(subject.customer_ids)]).fetchall())
    temp_table_from_rows(con, "forget_records", RECORD_COLUMNS, [list(r) for r in sorted(subject.records)])
    if has_norm and subject.records:
        rows = con.execute(
            "SELECT n.email, n.phone, n.user_id, n.anonymous_id, n.social_handle, n.order_id "
            "FROM identity.normalized_records n JOIN forget_records f USING (source, record_id)").fetchall()
        for email_n, phone, user_id, anon, handle, order_id in rows:
            _add(subject.emails, email_n)
            _add(subject.phones, phone)
            _add(subject.user_ids, user_id)
            _add(subject.anonymous_ids, anon)
            _add(subject.social_handles, handle.lstrip("@").lower() if handle else None)
            _add(subject.order_ids, order_id)
    if has_staging and subject.records:
        rows = con.execute(
            "SELECT s.email, s.phone, s.country, s.user_id, s.anonymous_id, s.social_handle, s.order_id, s.source "
            "FROM staging.customer_records s JOIN forget_records f USING (source, record_id)").fetchall()
        emails = normalize_emails([r[0] for r in rows if r[0]])
        phones: dict = {}
        for source in sorted({r[7] for r in rows if r[1]}):
            found = normalize_phones([(r[1], r[2]) for r in rows if r[1] and r[7] == source],
                                     phone_regions.get(source))
            phones.update({(source, *k): v for k, v in found.items()})
        for raw_email, raw_phone, country, user_id, anon, handle, order_id, source in rows:
            if raw_email and emails.get(raw_email):
                subject.raw_spellings.add(raw_email)
                subject.emails.add(emails[raw_email])
            if raw_phone and phones.get((source, raw_phone, country)):
                subject.raw_spellings.add(raw_phone)
                subject.phones.add(phones[(source, raw_phone, country)])
            _add(subject.user_ids, user_id)
            _add(subject.anonymous_ids, anon)
            _add(subject.social_handles, handle.lstrip("@").lower() if handle else None)
            _add(subject.order_ids, order_id)
    if has_golden and subject.customer_ids:
        golden = columns_of(con, "profiles", "golden")
        for column, target in (("emails", subject.emails), ("phones", subject.phones),
                               ("user_ids", subject.user_ids), ("anonymous_ids", subject.anonymous_ids),
                               ("order_ids", subject.order_ids)):
            if column in golden:
                target |= _fetch_set(con, f"SELECT DISTINCT unnest({quote_ident(column)}) FROM profiles.golden "
                                          "WHERE list_contains(?, customer_id)", [sorted(subject.customer_ids)])
    temp_table_from_rows(con, "forget_customers", [("customer_id", "VARCHAR")],
                         [[c] for c in sorted(subject.customer_ids)])
    return subject


def _add(target: set, value) -> None:
    if value is not None and str(value).strip():
        target.add(str(value))

