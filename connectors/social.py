"""Social platform export: profiles and interactions (NDJSON), lead-form submissions (CSV).

Profiles change (a new display name, more followers): the stream is a merge on `profile_id`, as
orders are: a version with a newer `updated_at` replaces the stored one (every version stays in
Parquet; the raw view and staging show the latest).
"""
from __future__ import annotations

from config.sources import SocialSourceSettings
from connectors.base import Connector, FileInput, StagingPart, Stream, staging_spec
from connectors.validation import Field, RecordSpec

PROFILES = RecordSpec(
    fields=(
        Field("profile_id", required=True),
        Field("handle", required=True),
        Field("display_name"),
        Field("location"),
        Field("followers", "integer"),
        Field("created_at", "timestamp"),
        Field("updated_at", "timestamp", required=True, no_future=True),
    ),
    derived=(("event_time", "TIMESTAMP", "updated_at__ts"),
             # The version a merge compares: a profile with a newer updated_at replaces the old one.
             ("version_time", "TIMESTAMP", "updated_at__ts")),
    record_id="profile_id",
)

INTERACTIONS = RecordSpec(
    fields=(
        Field("interaction_id", required=True),
        Field("profile_id"),
        Field("handle"),
        Field("type", required=True, allowed=("follow", "comment", "like", "share")),
        Field("post_id"),
        Field("text"),
        Field("timestamp", "timestamp", required=True, no_future=True),
    ),
    derived=(("event_time", "TIMESTAMP", "timestamp__ts"),),
    record_id="interaction_id",
)

LEADS = RecordSpec(
    fields=(
        Field("lead_id", required=True),
        Field("form_id"),
        Field("profile_id"),
        Field("handle"),
        Field("submitted_at", "timestamp", required=True, no_future=True),
        Field("full_name"),
        Field("email"),
        Field("phone"),
        Field("city"),
        Field("country", pattern="[A-Za-z]{2}"),
        Field("consent_marketing", "boolean"),
    ),
    derived=(("event_time", "TIMESTAMP", "submitted_at__ts"),),
    record_id="lead_id",
)


class SocialConnector(Connector):
    name = "social"
    config_model = SocialSourceSettings

    def streams(self) -> list[Stream]:
        s = self.settings
        return [
            Stream(name="social_profiles", spec=PROFILES, primary_key="profile_id",
                   disposition="merge", version="version_time",
                   inputs=(FileInput(tuple(s.profiles_files), "ndjson"),),
                   staging=staging_spec(s, "social", "social_profiles", "'profile'", {
                       "record_id": "profile_id", "full_name": "display_name", "social_handle": "handle"})),
            Stream(name="social_interactions", spec=INTERACTIONS, primary_key="interaction_id",
                   inputs=(FileInput(tuple(s.interactions_files), "ndjson"),),
                   staging=staging_spec(s, "social", "social_interactions", "type", {
                       "record_id": "interaction_id", "social_handle": "handle"})),
            Stream(name="social_leads", spec=LEADS, primary_key="lead_id",
                   inputs=(FileInput(tuple(s.leads_files), "csv"),),
                   staging=staging_spec(s, "social", "social_leads", "'lead'", {
                       "record_id": "lead_id", "full_name": "full_name", "email": "email", "phone": "phone",
                       "city": "city", "country": "country", "social_handle": "handle"}, (
                       StagingPart("consent_statements", {"purpose": "'marketing'", "granted": "consent_marketing",
                                                          "stated_at": "event_time"},
                                   where="consent_marketing IS NOT NULL"),))),
        ]
