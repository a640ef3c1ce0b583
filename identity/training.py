"""Training the model with no labels: u by random sampling, m and the prior by EM over blocked pairs.

As in Splink: u comes from random signature pairs (nearly all of them two different people); m
comes from expectation-maximisation over the comparison vectors of pairs found by several
training blocking rules. A comparison whose columns a training rule blocks on agrees on every
pair of that session, so it is left out of that session and trained in another one; the m of a
comparison is the mean over the sessions that trained it. EM runs on the distinct comparison
patterns and their counts (numpy over patterns: each iteration costs the number of patterns,
not of pairs).

The prior (the chance that two random signatures are one person) follows from each session: EM
estimates the share of matches among that session's pairs; divided by the chance that a true
match passes the session's blocking rule (its fields present on both sides and equal, from the
m trained elsewhere), it gives the number of matching pairs in the whole file.

Where deterministic identifiers already joined records (the warehouse pipeline), the signature
pairs inside one cluster are labelled matches: `train_from_clusters` reads m off them directly.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import duckdb
import numpy as np

from identity.blocking import BlockingRule, block
from identity.comparisons import Comparison
from identity.model import MatchModel, initial_m, level_names

# Training sessions tried in order; each trains every comparison it does not block on.
TRAINING_RULES: tuple[tuple[str, ...], ...] = (
    ("first_name_key", "last_name_key"),
    ("birth_date",),
    ("postcode",),
    ("email",),
    ("phone",),
    ("national_id",),
    ("street", "house_number"),
    ("city",),
)


def vectors_sql(comparisons: tuple[Comparison, ...], pairs: str, sigs: str, tf: bool = False) -> str:
    """SELECT of (sl, sr, <comparison codes>[, tf_<comparison>]) for every pair of `pairs`."""
    cols = [f"{c.level_sql()} AS \"{c.name}\"" for c in comparisons]
    if tf:
        cols += [f"CASE WHEN l.{c.tf_column} = r.{c.tf_column} THEN l.\"tf__{c.tf_column}\" END AS \"tf_{c.name}\""
                 for c in comparisons if c.tf_column]
    return (f"SELECT p.sl, p.sr, {', '.join(cols)} FROM {pairs} p "
            f"JOIN {sigs} l ON l.sig = p.sl JOIN {sigs} r ON r.sig = p.sr")


def _single_column_exact(comp: Comparison) -> str | None:
    exact = comp.levels[0]
    col = comp.tf_column
    return col if exact.name == "exact" and col and exact.sql == f"l.{col} = r.{col}" else None



class LevelU(dict):
    """u per comparison and level, remembering the levels no random pair showed (u is a floor)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.unseen: set[tuple[str, int]] = set()


def neutralize_unseen(m: dict[str, dict[int, float]], u) -> dict[str, dict[int, float]]:
    """A level seen neither among random pairs nor (beyond smoothing) among matches weighs 0 bits.

    Both m and u are then smoothing floors, and their ratio is noise: a first-name "initial" level
    no pair ever showed weighed +7.9 bits on generated data.
    """
    for comp, code in getattr(u, "unseen", ()):
        if comp in m and m[comp].get(code, 1.0) < 1e-3:
            m[comp][code] = u[comp][code]
    return m


def estimate_u(
    con: duckdb.DuckDBPyConnection, sigs: str, comparisons: tuple[Comparison, ...],
    sample_pairs: int, seed: int,
) -> dict[str, dict[int, float]]:
    """u per level from random signature pairs; exact agreement from the value shares themselves."""
    n_sig = con.execute(f"SELECT count(*) FROM {sigs}").fetchall()[0][0]
    u = LevelU()
    if n_sig < 2:
        for comp in comparisons:
            u[comp.name] = {code: (1.0 if code == 0 else 1e-4) for code in comp.codes.values() if code >= 0}
        return u
    # never more draws than there are pairs (a small file would only repeat them)
    n = int(min(sample_pairs, max(n_sig * (n_sig - 1) // 2, 1000)))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _id_upairs AS
        SELECT a.sl, a.sr FROM (
            SELECT CAST(hash(i, {seed}) % {n_sig} AS UINTEGER) AS sl,
                   CAST(hash(i, {seed + 1}) % {n_sig} AS UINTEGER) AS sr FROM range({n}) t(i)) a
        JOIN {sigs} l ON l.sig = a.sl JOIN {sigs} r ON r.sig = a.sr
        WHERE a.sl <> a.sr AND l.cluster <> r.cluster
    """)
    names = [f'"{c.name}"' for c in comparisons]
    rows = con.execute(f"""
        WITH v AS ({vectors_sql(comparisons, '_id_upairs', sigs)})
        SELECT comparison, level, count(*) FROM
          (UNPIVOT (SELECT {', '.join(names)} FROM v) ON {', '.join(names)} INTO NAME comparison VALUE level)
        WHERE level >= 0 GROUP BY ALL
    """).fetchall()
    con.execute("DROP TABLE IF EXISTS _id_upairs")
    seen: dict[str, dict[int, int]] = {}
    for comp, level, count in rows:
        seen.setdefault(comp, {})[int(level)] = int(count)
    floor = 1.0 / (2.0 * max(n, 1))
    for comp in comparisons:
        got = seen.get(comp.name, {})
        total = sum(got.values()) or 1
        u[comp.name] = {code: max(got.get(code, 0) / total, floor)
                        for code in comp.codes.values() if code >= 0}
        u.unseen.update((comp.name, code) for code in u[comp.name] if code > 0 and not got.get(code))
        col = _single_column_exact(comp)
        if col:
            # the chance two random signatures share a value is the sum of squared value shares:
            # exact at any scale, where a sample of pairs would see almost no agreement
            share = con.execute(
                f"SELECT sum(p * p) FROM (SELECT count(*) / sum(count(*)) OVER () AS p FROM {sigs} "
                f"WHERE {col} IS NOT NULL GROUP BY {col})"
            ).fetchall()[0][0]
            if share:
                u[comp.name][comp.exact_code] = max(float(share), floor)
                u.unseen.discard((comp.name, comp.exact_code))
    return u


@dataclass
class Session:
    rule: str
    pairs: int               # pairs the rule makes (before sampling)
    sampled: int
    trained: list[str]
    match_share: float
    iterations: int
    converged: bool
    m: dict[str, dict[int, float]]


def _patterns(con, comparisons, pairs: str, sigs: str) -> tuple[np.ndarray, np.ndarray]:
    names = [f'"{c.name}"' for c in comparisons]
    rows = con.execute(
        f"SELECT {', '.join(names)}, count(*) FROM ({vectors_sql(comparisons, pairs, sigs)}) GROUP BY ALL"
    ).fetchnumpy()
    if not rows or len(rows["count_star()"]) == 0:
        return np.zeros((0, len(comparisons)), dtype=np.int16), np.zeros(0)
    codes = np.stack([np.asarray(rows[c.name], dtype=np.int16) for c in comparisons], axis=1)
    return codes, np.asarray(rows["count_star()"], dtype=np.float64)


def run_em(
    codes: np.ndarray, counts: np.ndarray, comparisons: tuple[Comparison, ...], active: list[bool],
    m: dict[str, dict[int, float]], u: dict[str, dict[int, float]], share: float,
    max_iterations: int, tolerance: float,
) -> tuple[dict[str, dict[int, float]], float, int, bool]:
    """EM over comparison patterns; m of active comparisons and the match share are re-estimated."""
    m = {k: dict(v) for k, v in m.items()}
    total = counts.sum()
    if total == 0:
        return m, share, 0, True
    k_codes = [sorted(c for c in comp.codes.values() if c >= 0) for comp in comparisons]
    for iteration in range(1, max_iterations + 1):
        log_m = np.full(len(counts), math.log(share))
        log_u = np.full(len(counts), math.log(1 - share))
        for j, comp in enumerate(comparisons):
            if not active[j]:
                continue
            col = codes[:, j]
            lm = np.zeros(len(counts))
            lu = np.zeros(len(counts))
            for code in k_codes[j]:
                sel = col == code
                lm[sel] = math.log(max(m[comp.name].get(code, 1e-9), 1e-9))
                lu[sel] = math.log(max(u[comp.name].get(code, 1e-9), 1e-9))
            log_m += lm
            log_u += lu
        post = 1.0 / (1.0 + np.exp(np.clip(log_u - log_m, -700, 700)))
        weighted = post * counts
        new_share = float(min(max(weighted.sum() / total, 1e-9), 1 - 1e-9))
        delta = abs(new_share - share)
        share = new_share
        for j, comp in enumerate(comparisons):
            if not active[j]:
                continue
            col = codes[:, j]
            known = weighted[col >= 0].sum()
            if known <= 0:
                continue
            # one pseudo-pair spread over the levels: a level EM never saw among a few hundred
            # matches is rare, not impossible (m = 0 would make it a veto of -20 bits)
            prior_count = 1.0 / len(k_codes[j])
            for code in k_codes[j]:
                new = float((weighted[col == code].sum() + prior_count) / (known + 1.0))
                delta = max(delta, abs(new - m[comp.name].get(code, 0.0)))
                m[comp.name][code] = new
        if delta < tolerance:
            return m, share, iteration, True
    return m, share, max_iterations, False


def train_em(
    con: duckdb.DuckDBPyConnection, sigs: str, comparisons: tuple[Comparison, ...],
    u: dict[str, dict[int, float]], settings,
) -> MatchModel:
    """m and the prior by EM over several training blocking rules (see the module docstring)."""
    cols = set(c for comp in comparisons for c in comp.columns)
    candidates = [BlockingRule(r) for r in TRAINING_RULES if BlockingRule(r).columns() <= cols]
    n_sig = con.execute(f"SELECT count(*) FROM {sigs}").fetchall()[0][0]
    all_pairs = max(n_sig * (n_sig - 1) / 2, 1.0)
    nonnull = {}
    for comp in comparisons:
        col = comp.columns[0]
        nonnull[comp.name] = con.execute(
            f"SELECT count({col}) / greatest(count(*), 1) FROM {sigs}").fetchall()[0][0] or 0.0
    m0 = initial_m(comparisons)
    sessions: list[Session] = []
    trained_count = {c.name: 0 for c in comparisons}
    for rule in candidates:
        blocked = rule.columns()
        active = [not (set(c.columns) & blocked) for c in comparisons]
        # a session that would train nothing new is skipped once two sessions have run
        if len(sessions) >= 2 and all(trained_count[c.name] > 0 for c, a in zip(comparisons, active) if a):
            continue
        if not any(active):
            continue
        counted = block(con, sigs, "_id_train_pairs", [rule], max_block_size=settings.max_block_size,
                        max_pairs_per_rule=1 << 62, cross_cluster_only=False,
                        sample_pairs=settings.em_sample_pairs, seed=settings.random_seed)
        made = counted["rules"][0]["comparisons"]
        codes, counts = _patterns(con, comparisons, "_id_train_pairs", sigs)
        if counts.sum() < 10:
            continue
        m_s, share, its, ok = run_em(codes, counts, comparisons, active, m0, u, 0.1,
                                     settings.em_max_iterations, settings.em_tolerance)
        sessions.append(Session(rule.name, made, int(counts.sum()),
                                [c.name for c, a in zip(comparisons, active) if a], share, its, ok, m_s))
        for c, a in zip(comparisons, active):
            trained_count[c.name] += int(a)
    con.execute("DROP TABLE IF EXISTS _id_train_pairs")
    m: dict[str, dict[int, float]] = {}
    for comp in comparisons:
        trained = [s.m[comp.name] for s in sessions if comp.name in s.trained]
        if not trained:
            m[comp.name] = m0[comp.name]
            continue
        m[comp.name] = {code: statistics.fmean(t[code] for t in trained) for code in m0[comp.name]}
    # the prior from each session: matches in the file = matches in the session / P(a match is blocked)
    estimates = []
    for s in sessions:
        recall = 1.0
        for comp in comparisons:
            if comp.name in s.trained:
                continue
            exact = comp.exact_code
            recall *= (nonnull[comp.name] ** 2) * m[comp.name].get(exact, 0.9)
        if recall > 0:
            estimates.append(s.match_share * s.pairs / recall / all_pairs)
    prior = min(max(statistics.median(estimates) if estimates else 1.0 / max(n_sig, 2), 1e-12), 0.5)
    return MatchModel(
        m=neutralize_unseen(m, u), u=u, prior=prior, level_names=level_names(comparisons),
        training={
            "method": "em",
            "summary": "; ".join(f"{s.rule}: {s.sampled:,} pairs, match share {s.match_share:.3g}, "
                                 f"{s.iterations} iterations{'' if s.converged else ' (not converged)'}"
                                 for s in sessions),
            "sessions": [s.__dict__ | {"m": None} for s in sessions],
            "untrained": [c.name for c in comparisons if trained_count[c.name] == 0],
        },
    )


def train_from_clusters(
    con: duckdb.DuckDBPyConnection, sigs: str, comparisons: tuple[Comparison, ...],
    u: dict[str, dict[int, float]], settings,
) -> MatchModel | None:
    """m from signature pairs inside one deterministic cluster (labelled matches); None if too few.

    Every such pair is two traces of one person joined by a strong identifier, whatever blocking
    rule would have found it, so m is not biased toward blocked fields. The prior is the share of
    all signature pairs lying inside a cluster, divided by the share of true pairs the identifiers
    find (`deterministic_recall`). Measured on generated data at 1M records, EM there learned
    "same household" as the match class; labels avoid that where they exist.
    """
    cap = int(settings.max_signatures_per_cluster_for_training)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _id_label_pairs AS
        WITH ranked AS (
            SELECT sig, cluster, row_number() OVER (PARTITION BY cluster ORDER BY sig) AS rn,
                   count(*) OVER (PARTITION BY cluster) AS size FROM {sigs})
        SELECT l.sig AS sl, r.sig AS sr FROM ranked l JOIN ranked r ON l.cluster = r.cluster AND l.sig < r.sig
        WHERE l.size > 1 AND l.rn <= {cap} AND r.rn <= {cap}
    """)
    labelled = con.execute("SELECT count(*) FROM _id_label_pairs").fetchall()[0][0]
    if labelled < settings.min_training_pairs:
        return None
    codes, counts = _patterns(con, comparisons, "_id_label_pairs", sigs)
    con.execute("DROP TABLE IF EXISTS _id_label_pairs")
    m: dict[str, dict[int, float]] = {}
    for j, comp in enumerate(comparisons):
        levels = sorted(c for c in comp.codes.values() if c >= 0)
        seen = {code: float(counts[codes[:, j] == code].sum()) for code in levels}
        total = sum(seen.values()) + len(levels)
        # add-one smoothing: a level never seen among known matches is rare, not impossible
        m[comp.name] = {code: (seen[code] + 1) / total for code in levels}
    n_sig, in_cluster = con.execute(f"""
        SELECT (SELECT count(*) FROM {sigs}),
               (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) AS n FROM {sigs} GROUP BY cluster))
    """).fetchall()[0]
    all_pairs = max(n_sig * (n_sig - 1) / 2, 1)
    prior = min(max(float(in_cluster) / all_pairs / settings.deterministic_recall, 1e-12), 0.5)
    return MatchModel(m=neutralize_unseen(m, u), u=u, prior=prior, level_names=level_names(comparisons),
                      training={"method": "clusters", "summary": f"{labelled:,} labelled pairs inside "
                                                                 "deterministic clusters"})
