"""A minimal `profiles.golden` + `profiles.traits` over the `profile_warehouse` fixture.

Sync and privacy tests depend on the golden table's contract (columns), not on how the profiles
helper computes it, so they build it here from `identity.normalized_records` with plain SQL.
"""
from __future__ import annotations

GOLDEN_SQL = """
CREATE OR REPLACE TABLE profiles.golden AS
SELECT m.customer_id,
       arg_max(n.first_name, n.event_time) FILTER (WHERE n.first_name IS NOT NULL) AS first_name,
       arg_max(n.last_name, n.event_time) FILTER (WHERE n.last_name IS NOT NULL) AS last_name,
       arg_max(n.full_name, n.event_time) FILTER (WHERE n.full_name IS NOT NULL) AS full_name,
       arg_max(n.email, n.event_time) FILTER (WHERE n.email IS NOT NULL) AS email,
       arg_max(n.phone, n.event_time) FILTER (WHERE n.phone IS NOT NULL) AS phone,
       arg_max(n.street, n.event_time) FILTER (WHERE n.street IS NOT NULL) AS street,
       arg_max(n.city, n.event_time) FILTER (WHERE n.city IS NOT NULL) AS city,
       arg_max(n.postcode, n.event_time) FILTER (WHERE n.postcode IS NOT NULL) AS postcode,
       arg_max(n.region, n.event_time) FILTER (WHERE n.region IS NOT NULL) AS region,
       arg_max(n.country, n.event_time) FILTER (WHERE n.country IS NOT NULL) AS country,
       arg_max(n.birth_date, n.event_time) FILTER (WHERE n.birth_date IS NOT NULL) AS birth_date,
       list(DISTINCT n.email) FILTER (WHERE n.email IS NOT NULL) AS emails,
       list(DISTINCT n.phone) FILTER (WHERE n.phone IS NOT NULL) AS phones,
       list(DISTINCT n.user_id) FILTER (WHERE n.user_id IS NOT NULL) AS user_ids,
       list(DISTINCT n.device_id) FILTER (WHERE n.device_id IS NOT NULL) AS device_ids,
       list(DISTINCT n.anonymous_id) FILTER (WHERE n.anonymous_id IS NOT NULL) AS anonymous_ids,
       list(DISTINCT n.social_handle) FILTER (WHERE n.social_handle IS NOT NULL) AS social_handles,
       list(DISTINCT n.order_id) FILTER (WHERE n.order_id IS NOT NULL) AS order_ids,
       max(n.event_time) AS updated_at,
       'x' AS profile_checksum
FROM identity.record_map m JOIN identity.normalized_records n USING (source, record_id)
GROUP BY m.customer_id
"""

TRAITS_SQL = """
CREATE OR REPLACE TABLE profiles.traits AS
SELECT customer_id, count(*) AS record_count, max(n.event_time) AS last_seen
FROM identity.record_map m JOIN identity.normalized_records n USING (source, record_id)
GROUP BY customer_id
"""


def build_golden(con) -> None:
    con.execute(GOLDEN_SQL)
    con.execute(TRAITS_SQL)
