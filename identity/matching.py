"""Probabilistic matching (Fellegi-Sunter) over distinct identity signatures.

Named, inspectable steps as in Splink: signatures -> blocking -> comparison levels -> u by random
sampling, m from the signature pairs inside deterministic clusters (labelled matches; EM over the
candidate pairs remains as `match.m_training: em` and as the fallback when there are no such
pairs) -> match weights (+ term-frequency adjustment of exact name agreement) -> a match
probability per pair. Pairs are scored inside DuckDB (its Jaro-Winkler and Damerau-
Levenshtein run at millions of pairs a second over the candidate table); EM runs on the handful of
distinct comparison patterns with their counts, not on the pairs themselves.

A signature is a distinct combination of matching attributes within one deterministic cluster:
thousands of page views of one cookie collapse to nothing, one identify event with a name and an
email to one signature. That collapse is where the speed comes from.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import duckdb
import polars as pl

from config.identity import MatchSettings

MATCH_COLUMNS = (
    "first_name_key", "last_name_key", "email", "phone", "birth_date",
    "postcode", "house_number", "street", "city", "country",
)


@dataclass(frozen=True)
class Level:
    value: int
    name: str
    sql: str           # condition on l.<col>/r.<col>; evaluated in order, first true wins


@dataclass(frozen=True)
class Comparison:
    name: str
    null_sql: str      # true when the comparison cannot be made (a side lacks the field)
    levels: tuple[Level, ...]
    tf_column: str | None = None   # exact level gets a term-frequency adjustment on this column


def _jw(col: str) -> str:
    return f"jaro_winkler_similarity(l.{col}, r.{col})"


COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "first_name", "l.first_name_key IS NULL OR r.first_name_key IS NULL",
        (
            Level(3, "exact", "l.first_name_key = r.first_name_key"),
            Level(2, "jaro_winkler>=0.92", f"{_jw('first_name_key')} >= 0.92"),
            Level(1, "jaro_winkler>=0.80 or first token equal",
                  f"{_jw('first_name_key')} >= 0.80 OR split_part(l.first_name_key, ' ', 1) = split_part(r.first_name_key, ' ', 1)"),
        ),
        tf_column="first_name_key",
    ),
    Comparison(
        "last_name", "l.last_name_key IS NULL OR r.last_name_key IS NULL",
        (
            Level(3, "exact", "l.last_name_key = r.last_name_key"),
            Level(2, "jaro_winkler>=0.92", f"{_jw('last_name_key')} >= 0.92"),
            Level(1, "one surname of a double surname",
                  "split_part(l.last_name_key, ' ', 1) = split_part(r.last_name_key, ' ', 1) "
                  "OR contains(l.last_name_key, r.last_name_key) OR contains(r.last_name_key, l.last_name_key)"),
        ),
        tf_column="last_name_key",
    ),
    Comparison(
        "email", "l.email IS NULL OR r.email IS NULL",
        (
            Level(3, "exact", "l.email = r.email"),
            # one slip of the finger (Damerau: a transposition counts once), not at the first
            # letter and not in a separator. Measured at 1M generated records: namesakes' addresses
            # differ by exactly that (maria_garcia / mariagarcia, afiol / rfiol: separators and
            # initials of the common address patterns), random pairs cannot show it (u ~ 0), and
            # the looser level fused ~100 pairs of namesakes for every real typo it found.
            Level(2, "typo: one edit or transposition after the first letter, not a separator",
                  "left(l.email, 1) = left(r.email, 1) AND l.email_digits = r.email_digits "
                  "AND l.email_squashed <> r.email_squashed AND abs(length(l.email) - length(r.email)) <= 1 "
                  "AND damerau_levenshtein(l.email, r.email) <= 1"),
            Level(1, "same local part", "l.email_local = r.email_local"),
        ),
    ),
    Comparison(
        "phone", "l.phone IS NULL OR r.phone IS NULL",
        (
            Level(2, "exact", "l.phone = r.phone"),
            Level(1, "last 7 digits equal or jaro_winkler>=0.95",
                  f"right(l.phone, 7) = right(r.phone, 7) OR {_jw('phone')} >= 0.95"),
        ),
    ),
    Comparison(
        "birth_date", "l.birth_date IS NULL OR r.birth_date IS NULL",
        (
            Level(2, "exact", "l.birth_date = r.birth_date"),
            Level(1, "day/month transposed or one part off",
                  "(day(l.birth_date) = month(r.birth_date) AND month(l.birth_date) = day(r.birth_date) "
                  "AND year(l.birth_date) = year(r.birth_date)) "
                  "OR (CAST(year(l.birth_date) = year(r.birth_date) AS INT) + CAST(month(l.birth_date) = month(r.birth_date) AS INT) "
                  "+ CAST(day(l.birth_date) = day(r.birth_date) AS INT)) = 2"),
        ),
    ),
    # One comparison for the whole address: street, postcode and city say the same thing, and
    # three independent comparisons counted a shared home three times (+38 bits), enough to fuse
    # household members whose first names and emails disagree (measured at 1M generated records).
    Comparison(
        "address",
        "(l.street IS NULL AND l.postcode IS NULL AND l.city IS NULL) "
        "OR (r.street IS NULL AND r.postcode IS NULL AND r.city IS NULL)",
        (
            Level(4, "same street and house number",
                  "l.street = r.street AND l.house_number IS NOT DISTINCT FROM r.house_number "
                  "AND (l.postcode IS NULL OR r.postcode IS NULL OR l.postcode = r.postcode)"),
            Level(3, "same postcode, similar street",
                  f"l.postcode = r.postcode AND {_jw('street')} >= 0.88"),
            Level(2, "same postcode", "l.postcode = r.postcode"),
            Level(1, "same city", "l.city = r.city"),
        ),
    ),
)

# Blocking keys: fixed SQL over the signature table, selected by name from config (never user text).
BLOCKING_KEY_SQL = {
    "first_name_key": "first_name_key",
    "last_name_key": "last_name_key",
    "first_initial": "left(first_name_key, 1)",
    "last_name_prefix3": "left(last_name_key, 3)",
    "full_name_key": "concat_ws(' ', first_name_key, last_name_key)",
    "email": "email",
    "email_local": "split_part(email, '@', 1)",
    "phone": "phone",
    "phone_last7": "right(phone, 7)",
    "birth_date": "birth_date",
    "birth_year": "year(birth_date)",
    "postcode": "postcode",
    "house_number": "house_number",
    "city": "city",
    "street": "street",
    "country": "country",
}


def level_names() -> dict[tuple[str, int], str]:
    names = {}
    for comp in COMPARISONS:
        names[(comp.name, -1)] = "null"
        names[(comp.name, 0)] = "else"
        for lvl in comp.levels:
            names[(comp.name, lvl.value)] = lvl.name
    return names


def _level_sql(comp: Comparison) -> str:
    whens = " ".join(f"WHEN {lvl.sql} THEN {lvl.value}" for lvl in comp.levels)
    return f"CAST(CASE WHEN {comp.null_sql} THEN -1 {whens} ELSE 0 END AS TINYINT) AS {comp.name}"


def comparison_select(pairs: str, sigs: str = "sig", with_rule: bool = False) -> str:
    """SQL giving the comparison level of every pair in relation `pairs` (columns sl, sr)."""
    cols = ",\n  ".join(_level_sql(c) for c in COMPARISONS)
    tf = ", ".join(
        f"CASE WHEN l.{c.tf_column} = r.{c.tf_column} THEN l.{c.tf_column} END AS tf_{c.name}"
        for c in COMPARISONS if c.tf_column
    )
    return (
        f"SELECT p.sl, p.sr,{' p.rule, p.same,' if with_rule else ''}\n  {cols},\n  {tf}\n"
        f"FROM {pairs} p JOIN {sigs} l ON l.sig = p.sl JOIN {sigs} r ON r.sig = p.sr"
    )


@dataclass
class MatchModel:
    """Trained Fellegi-Sunter parameters: m and u per comparison level, and the prior."""
    m: dict[str, dict[int, float]]
    u: dict[str, dict[int, float]]
    prior: float
    iterations: int = 0
    tf: dict[str, dict[str, float]] = field(default_factory=dict)  # comparison -> value -> frequency

    def weight(self, comparison: str, level: int) -> float:
        if level < 0:
            return 0.0
        return math.log2(max(self.m[comparison].get(level, 1e-9), 1e-9) / max(self.u[comparison].get(level, 1e-9), 1e-9))

    def to_frame(self, run_id: str) -> pl.DataFrame:
        names = level_names()
        rows = []
        for comp in COMPARISONS:
            for lvl in [0] + [l.value for l in comp.levels]:
                rows.append({
                    "comparison": comp.name, "level": lvl, "level_name": names[(comp.name, lvl)],
                    "m_probability": self.m[comp.name].get(lvl), "u_probability": self.u[comp.name].get(lvl),
                    "match_weight": self.weight(comp.name, lvl), "run_id": run_id,
                })
        rows.append({"comparison": "_prior", "level": -1, "level_name": "prior match share",
                     "m_probability": self.prior, "u_probability": None,
                     "match_weight": math.log2(self.prior / (1 - self.prior)), "run_id": run_id})
        return pl.DataFrame(rows)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> "MatchModel":
        m: dict[str, dict[int, float]] = {}
        u: dict[str, dict[int, float]] = {}
        prior = 0.01
        for row in frame.iter_rows(named=True):
            if row["comparison"] == "_prior":
                prior = row["m_probability"]
                continue
            m.setdefault(row["comparison"], {})[row["level"]] = row["m_probability"]
            u.setdefault(row["comparison"], {})[row["level"]] = row["u_probability"]
        return cls(m=m, u=u, prior=prior)


def load_signatures(con: duckdb.DuckDBPyConnection, sigs: pl.DataFrame) -> None:
    """Register the signature frame (sig, cluster, MATCH_COLUMNS...) as temp table `sig`."""
    con.register("_sig_frame", sigs.to_arrow())
    # email parts the comparisons use, computed once per signature instead of once per pair
    # (per pair, the regexes took ~2 s of 3.5 s over 800k pairs at 1M records)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE sig AS
        SELECT *, regexp_replace(email, '[^0-9]', '', 'g') AS email_digits,
               regexp_replace(email, '[._-]', '', 'g') AS email_squashed,
               split_part(email, '@', 1) AS email_local
        FROM _sig_frame
    """)
    con.unregister("_sig_frame")


def candidate_pairs(con: duckdb.DuckDBPyConnection, settings: MatchSettings, in_cluster: bool = True) -> dict:
    """Build temp table `pairs` (sl < sr) from the blocking rules; return stats.

    With `in_cluster`, pairs inside one deterministic cluster are kept (flag `same`): they are the
    known matches that give EM a match class to learn from; only pairs across clusters can create
    new links, so without EM they are not built at all.
    """
    con.execute("CREATE OR REPLACE TEMP TABLE pairs (sl UINTEGER, sr UINTEGER, rule TINYINT, same BOOLEAN)")
    stats = {"skipped_blocks": 0, "pairs_by_rule": []}
    for i, rule in enumerate(settings.blocking_rules):
        keys = [BLOCKING_KEY_SQL[k] for k in rule]
        key_cols = ", ".join(f"{sql} AS k{j}" for j, sql in enumerate(keys))
        not_null = " AND ".join(f"k{j} IS NOT NULL" for j in range(len(keys)))
        using = ", ".join(f"k{j}" for j in range(len(keys)))
        skipped = con.execute(f"""
            CREATE OR REPLACE TEMP TABLE blk AS
            WITH k AS (SELECT sig, cluster, {key_cols} FROM sig),
                 kk AS (SELECT * FROM k WHERE {not_null}),
                 sizes AS (SELECT {using}, count(*) AS n FROM kk GROUP BY ALL)
            SELECT kk.sig, kk.cluster, {', '.join('kk.' + c for c in using.split(', '))}, sizes.n
            FROM kk JOIN sizes USING ({using})
        """)
        big = con.execute(
            f"SELECT count(*) FROM (SELECT DISTINCT {using} FROM blk WHERE n > ?)", [settings.max_block_size]
        ).fetchall()[0][0]
        stats["skipped_blocks"] += big
        con.execute(f"""
            INSERT INTO pairs
            SELECT l.sig, r.sig, {i}, l.cluster = r.cluster
            FROM blk l JOIN blk r USING ({using})
            WHERE l.n <= {int(settings.max_block_size)} AND l.sig < r.sig
              {'' if in_cluster else 'AND l.cluster <> r.cluster'}
        """)
        stats["pairs_by_rule"].append(con.execute(f"SELECT count(*) FROM pairs WHERE rule = {i}").fetchall()[0][0])
    con.execute("""
        CREATE OR REPLACE TEMP TABLE pairs AS
        SELECT sl, sr, min(rule) AS rule, any_value(same) AS same FROM pairs GROUP BY sl, sr
    """)
    stats["candidate_pairs"] = con.execute("SELECT count(*) FROM pairs WHERE NOT same").fetchall()[0][0]
    stats["training_pairs_in_clusters"] = con.execute("SELECT count(*) FROM pairs WHERE same").fetchall()[0][0]
    return stats


def compare_pairs(con: duckdb.DuckDBPyConnection) -> None:
    """Temp table `levels`: the comparison vector of every candidate pair."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE levels AS {comparison_select('pairs', with_rule=True)}")


_EXACT_COLUMN = {
    "first_name": "first_name_key", "last_name": "last_name_key", "email": "email",
    "phone": "phone", "birth_date": "birth_date",
}


def estimate_u(con: duckdb.DuckDBPyConnection, settings: MatchSettings) -> dict[str, dict[int, float]]:
    """u per level from random signature pairs (almost all of which are non-matches)."""
    n_sig = con.execute("SELECT count(*) FROM sig").fetchall()[0][0]
    comp_names = [c.name for c in COMPARISONS]
    u: dict[str, dict[int, float]] = {c: {} for c in comp_names}
    if n_sig < 2:
        for comp in COMPARISONS:
            u[comp.name] = {lvl.value: 1e-4 for lvl in comp.levels} | {0: 1.0}
        return u
    n = int(settings.u_sample_pairs)
    seed = int(settings.random_seed)
    # hash-based pseudo-random pairs: deterministic for a seed, no Python loop
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE upairs AS
        SELECT CAST(hash(i, {seed}) % {n_sig} AS UINTEGER) AS sl,
               CAST(hash(i, {seed + 1}) % {n_sig} AS UINTEGER) AS sr
        FROM range({n}) t(i)
    """)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE upairs AS
        SELECT p.sl, p.sr FROM upairs p JOIN sig l ON l.sig = p.sl JOIN sig r ON r.sig = p.sr
        WHERE l.cluster <> r.cluster
    """)
    sums = ", ".join(f"{c}" for c in comp_names)
    counts = pl.from_arrow(con.execute(f"""
        WITH v AS ({comparison_select('upairs')})
        SELECT * FROM (UNPIVOT (SELECT {sums} FROM v) ON {sums} INTO NAME comparison VALUE level)
    """).to_arrow_table()).group_by("comparison", "level").agg(pl.len().alias("n"))
    floor = 1.0 / (2.0 * max(n, 1))
    # exact agreement: u = sum of squared value shares (the chance two random signatures share a
    # value), exact at any scale where a small sample would see no agreement at all
    exact_u = {}
    for comp in COMPARISONS:
        col = _EXACT_COLUMN.get(comp.name)
        if col:
            exact_u[comp.name] = con.execute(
                f"SELECT sum(p * p) FROM (SELECT count(*) / sum(count(*)) OVER () AS p FROM sig "
                f"WHERE {col} IS NOT NULL GROUP BY {col})"
            ).fetchall()[0][0]
    for comp in COMPARISONS:
        sub = counts.filter((pl.col("comparison") == comp.name) & (pl.col("level") >= 0))
        total = sub["n"].sum() or 1
        got = {int(lvl): cnt / total for lvl, cnt in zip(sub["level"], sub["n"])}
        for lvl in [0] + [l.value for l in comp.levels]:
            u[comp.name][lvl] = max(got.get(lvl, 0.0), floor)
        top = max(l.value for l in comp.levels)
        if exact_u.get(comp.name):
            u[comp.name][top] = max(exact_u[comp.name], floor)
    return u


# Which comparison a blocking key pins: EM cannot learn m for a field every pair agrees on.
KEY_COMPARISON = {
    "first_name_key": "first_name", "first_initial": "first_name", "last_name_key": "last_name",
    "last_name_prefix3": "last_name", "full_name_key": "first_name", "email": "email",
    "email_local": "email", "phone": "phone", "phone_last7": "phone", "birth_date": "birth_date",
    "birth_year": "birth_date", "postcode": "address", "house_number": "address", "street": "address",
    "city": "address", "country": None,
}


def _em(patterns, m, u, prior, frozen, settings, update_m=True, known=None):
    """EM over (levels..., count) patterns; m of `frozen` comparisons and u stay fixed.

    `known` (a parallel list of booleans) marks patterns of known matches: their match
    posterior is 1 (semi-supervised EM), which anchors the match class.
    """
    comp_names = [c.name for c in COMPARISONS]
    iterations = 0
    for iterations in range(1, settings.em_max_iterations + 1):
        num = {c: {} for c in comp_names}
        den = {c: 0.0 for c in comp_names}
        total = matched = 0.0
        for idx, row in enumerate(patterns):
            count = row[-1]
            if known is not None and known[idx]:
                p = 1.0
            else:
                pm, pu = prior, 1.0 - prior
                for c, lvl in zip(comp_names, row[:-1]):
                    if lvl >= 0:
                        pm *= m[c].get(lvl, 1e-9)
                        pu *= u[c].get(lvl, 1e-9)
                p = pm / (pm + pu) if pm + pu > 0 else 0.0
                total += count
                matched += p * count
            w = p * count
            for c, lvl in zip(comp_names, row[:-1]):
                if lvl >= 0:
                    num[c][lvl] = num[c].get(lvl, 0.0) + w
                    den[c] += w
        new_prior = min(max(matched / total, 1e-6), 1 - 1e-6) if total else prior
        delta = abs(new_prior - prior)
        if update_m:
            for c in comp_names:
                if c in frozen or den[c] <= 0:
                    continue
                for lvl in m[c]:
                    new = max(num[c].get(lvl, 0.0) / den[c], 1e-6)
                    delta = max(delta, abs(new - m[c][lvl]))
                    m[c][lvl] = new
        prior = new_prior
        if delta < settings.em_tolerance:
            break
    return m, prior, iterations


def train_m(
    con: duckdb.DuckDBPyConnection, u: dict[str, dict[int, float]], settings: MatchSettings
) -> MatchModel:
    """m by EM with u fixed (from random pairs), started from the levels of known matches; then the prior.

    Measured on generated data: EM over only the pairs ACROSS deterministic clusters (mostly
    non-matches once identifiers have done their work) learns "same household" as the match class;
    per-blocking-rule sessions (Splink's way) drift the same way. Keeping in-cluster pairs in the
    training set anchors the match class.
    """
    comp_names = [c.name for c in COMPARISONS]
    rows = con.execute(
        f"SELECT same, {', '.join(comp_names)}, count(*) AS n FROM levels GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    init: dict[str, dict[int, float]] = {}
    for comp in COMPARISONS:
        levels = sorted([l.value for l in comp.levels], reverse=True)
        start = {levels[0]: 0.8}
        rest = levels[1:] + [0]
        for lvl in rest:
            start[lvl] = 0.2 / len(rest)
        init[comp.name] = start
    labelled = con.execute(
        f"SELECT {', '.join(comp_names)}, count(*) AS n FROM levels WHERE same GROUP BY ALL"
    ).fetchall()
    if sum(r[-1] for r in labelled) >= 20:
        # start from the comparison levels of pairs the identifiers already joined: known matches
        for j, comp in enumerate(COMPARISONS):
            seen = {lvl: 0.0 for lvl in init[comp.name]}
            for r in labelled:
                if r[j] >= 0:
                    seen[r[j]] += r[-1]
            total = sum(seen.values())
            if total >= 10:
                init[comp.name] = {lvl: max(cnt / total, 1e-3) for lvl, cnt in seen.items()}
    if not rows:
        return MatchModel(m=init, u=u, prior=settings.initial_match_share)
    # One semi-supervised EM session over every candidate pair: in-cluster pairs (joined by a
    # strong identifier) are known matches with posterior 1; cross-cluster pairs are unlabelled.
    m_final = {c: dict(v) for c, v in init.items()}
    m_final, _, total_iterations = _em(
        [r[1:] for r in rows], m_final, u, settings.initial_match_share, set(), settings,
        known=[bool(r[0]) for r in rows],
    )
    # the prior that matters is the share of matches among pairs ACROSS deterministic clusters
    cross = con.execute(
        f"SELECT {', '.join(comp_names)}, count(*) AS n FROM levels WHERE NOT same GROUP BY ALL"
    ).fetchall()
    all_patterns = cross or [r[1:] for r in rows]
    _, prior, its = _em(all_patterns, m_final, u, settings.initial_match_share, set(comp_names),
                        settings, update_m=False)
    return MatchModel(m=m_final, u=u, prior=prior, iterations=total_iterations + its)


def train_from_clusters(
    con: duckdb.DuckDBPyConnection, u: dict[str, dict[int, float]], settings: MatchSettings
) -> MatchModel | None:
    """m from signature pairs of one deterministic cluster (known matches); the prior from their count.

    Every pair of signatures inside one deterministic cluster is two traces of one person joined
    by a strong identifier: its comparison vector is a labelled match, whatever blocking rule would
    have found it (so m is not biased towards the blocked fields). Measured on generated data at
    1M records, EM over the candidate pairs instead collapsed onto "same name" as the match class
    (prior -> 1, email disagreement nearly free), fusing thousands of namesakes.

    The prior is the chance that two random signatures match, estimated as the share of all
    signature pairs that lie inside one cluster: the u probabilities come from random pairs, so
    this is the prior their Bayes factors are relative to (the blocking evidence is already in the
    name weights; a prior over candidate pairs would count it twice). Returns None when too few
    clusters hold two signatures to learn from (a file without identifiers): EM then does the work.
    """
    cap = int(settings.max_signatures_per_cluster_for_training)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE mpairs AS
        WITH ranked AS (
            SELECT sig, cluster, row_number() OVER (PARTITION BY cluster ORDER BY sig) AS rn,
                   count(*) OVER (PARTITION BY cluster) AS size
            FROM sig
        )
        SELECT l.sig AS sl, r.sig AS sr FROM ranked l JOIN ranked r
          ON l.cluster = r.cluster AND l.sig < r.sig
        WHERE l.size > 1 AND l.rn <= {cap} AND r.rn <= {cap}
    """)
    labelled = con.execute("SELECT count(*) FROM mpairs").fetchall()[0][0]
    if labelled < settings.min_training_pairs:
        return None
    comp_names = [c.name for c in COMPARISONS]
    counts = pl.from_arrow(con.execute(f"""
        WITH v AS ({comparison_select('mpairs')})
        SELECT * FROM (UNPIVOT (SELECT {', '.join(comp_names)} FROM v)
                       ON {', '.join(comp_names)} INTO NAME comparison VALUE level)
    """).to_arrow_table()).group_by("comparison", "level").agg(pl.len().alias("n"))
    m: dict[str, dict[int, float]] = {}
    for comp in COMPARISONS:
        sub = counts.filter((pl.col("comparison") == comp.name) & (pl.col("level") >= 0))
        seen = {int(lvl): int(cnt) for lvl, cnt in zip(sub["level"], sub["n"])}
        levels = [0] + [lvl.value for lvl in comp.levels]
        # add-one smoothing: a level never seen among known matches is rare, not impossible
        total = sum(seen.values()) + len(levels)
        m[comp.name] = {lvl: (seen.get(lvl, 0) + 1) / total for lvl in levels}
    n_sig, in_cluster = con.execute("""
        SELECT (SELECT count(*) FROM sig),
               (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) AS n FROM sig GROUP BY cluster))
    """).fetchall()[0]
    all_pairs = max(n_sig * (n_sig - 1) / 2, 1)
    prior = min(max(float(in_cluster) / all_pairs / settings.deterministic_recall, 1e-12), 0.5)
    return MatchModel(m=m, u=u, prior=prior)


def term_frequencies(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    """Share of signatures carrying each value of the term-frequency columns."""
    out = {}
    for comp in COMPARISONS:
        if comp.tf_column:
            out[comp.name] = pl.from_arrow(con.execute(f"""
                SELECT {comp.tf_column} AS value, count(*) / sum(count(*)) OVER () AS tf
                FROM sig WHERE {comp.tf_column} IS NOT NULL GROUP BY 1
            """).to_arrow_table())
    return out


def score_levels(
    levels: pl.DataFrame, model: MatchModel, tf_tables: dict[str, pl.DataFrame] | None,
) -> pl.DataFrame:
    """Add w_<comparison> columns, match_weight and match_probability to a levels frame."""
    exprs = []
    for comp in COMPARISONS:
        mapping = {lvl: model.weight(comp.name, lvl) for lvl in [-1, 0] + [l.value for l in comp.levels]}
        exprs.append(
            pl.col(comp.name).cast(pl.Int64).replace_strict(mapping, default=0.0, return_dtype=pl.Float64)
            .alias(f"w_{comp.name}")
        )
    out = levels.with_columns(exprs)
    if tf_tables:
        for comp in COMPARISONS:
            if not comp.tf_column or comp.name not in tf_tables:
                continue
            top = max(l.value for l in comp.levels)
            m_top = model.m[comp.name].get(top, 1e-9)
            u_top = model.u[comp.name].get(top, 1e-9)
            tf = tf_tables[comp.name].rename({"value": f"tf_{comp.name}", "tf": f"_tf_{comp.name}"})
            out = out.join(tf, on=f"tf_{comp.name}", how="left")
            # exact agreement on a value seen in a share tf of records: weight log2(m / tf), not
            # log2(m / u): a common surname counts less than a rare one (Splink's tf adjustment)
            out = out.with_columns(
                pl.when((pl.col(comp.name) == top) & pl.col(f"_tf_{comp.name}").is_not_null())
                .then((m_top / pl.col(f"_tf_{comp.name}").clip(lower_bound=u_top / 10)).log(2))
                .otherwise(pl.col(f"w_{comp.name}"))
                .alias(f"w_{comp.name}")
            ).drop(f"_tf_{comp.name}")
    prior_w = math.log2(model.prior / (1 - model.prior))
    total = pl.sum_horizontal([pl.col(f"w_{c.name}") for c in COMPARISONS]) + prior_w
    return out.with_columns(
        total.alias("match_weight"),
        (1.0 / (1.0 + (2.0 ** (-total)))).alias("match_probability"),
    )
