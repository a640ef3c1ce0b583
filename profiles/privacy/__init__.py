"""Privacy requests: forget a person everywhere in the home folder, and keep them forgotten.

One module per job:
- `subject`: who the person is (records, customer ids, identifiers) and how to find their values;
- `erasure`: remove their rows and lines from raw Parquet, DuckDB tables and files;
- `suppression`: sweep already-staged records carrying a suppressed identifier (new loads are
  screened by `warehouse.suppression` itself);
- `request`: `forget()`, the whole request with its audit row.
"""
from profiles.privacy.erasure import (
    STREAM_KEYS, _drop_matching_lines, clean_files, clean_parquet_files, delete_from_tables, rewrite_database,
)
from profiles.privacy.request import AUDIT_DDL, ForgetResult, audit_rows, ensure_privacy_tables, forget
from profiles.privacy.subject import (
    Subject, find_subject, needle_pattern, normalize_emails, normalize_phones, python_needle_regex,
)
from profiles.privacy.suppression import apply_suppressions, suppressed_hashes, suppressed_records
from warehouse.suppression import SUPPRESSIONS_DDL, sha256_hex

__all__ = [
    "AUDIT_DDL", "ForgetResult", "STREAM_KEYS", "SUPPRESSIONS_DDL", "Subject", "_drop_matching_lines",
    "apply_suppressions", "audit_rows", "clean_files", "clean_parquet_files", "delete_from_tables",
    "ensure_privacy_tables", "find_subject", "forget", "needle_pattern", "normalize_emails",
    "normalize_phones", "python_needle_regex", "rewrite_database", "sha256_hex", "suppressed_hashes",
    "suppressed_records",
]
