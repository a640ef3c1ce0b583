"""Blocking: which pairs of signatures are compared at all.

A blocking rule is a list of named keys; two signatures are a candidate pair when they agree on
every key of at least one rule. Keys are fixed SQL over signature columns (never user text). Rules
are chosen from the attributes present (`auto_rules`), and every rule's comparisons are counted
before any pair is built (Splink's `count_comparisons_from_blocking_rule`): a key value shared by
more than `max_block_size` signatures is skipped and counted, and a rule keeps at most
`max_pairs_per_rule` pairs by dropping its largest blocks first, so one common surname cannot
explode the pair table.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb

# key name -> (SQL over the signature table, the columns it needs)
BLOCKING_KEYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "first_name_key": ("first_name_key", ("first_name_key",)),
    "last_name_key": ("last_name_key", ("last_name_key",)),
    "first_initial": ("left(first_name_key, 1)", ("first_name_key",)),
    "last_name_prefix3": ("left(last_name_key, 3)", ("last_name_key",)),
    "full_name_key": ("first_name_key || ' ' || last_name_key", ("first_name_key", "last_name_key")),
    # first and last name in either order: a swapped record blocks with its original
    "sorted_name": ("least(first_name_key, last_name_key) || '|' || greatest(first_name_key, last_name_key)",
                    ("first_name_key", "last_name_key")),
    "email": ("email", ("email",)),
    "email_local": ("split_part(email, '@', 1)", ("email",)),
    "phone": ("phone", ("phone",)),
    "phone_last7": ("right(phone, 7)", ("phone",)),
    "birth_date": ("birth_date", ("birth_date",)),
    "birth_year": ("year(birth_date)", ("birth_date",)),
    "postcode": ("postcode", ("postcode",)),
    "house_number": ("house_number", ("house_number",)),
    "city": ("city", ("city",)),
    "street": ("street", ("street",)),
    "country": ("country", ("country",)),
    "region": ("region", ("region",)),
    "national_id": ("national_id", ("national_id",)),
}

# Rules tried in this order when `blocking_rules: auto`; a rule is kept when every column it needs
# is present. Together they give each true pair several ways in: a typo in one field (the surname,
# the birth date, the postcode) still leaves a rule on the others.
AUTO_RULES: tuple[tuple[str, ...], ...] = (
    ("sorted_name",),
    ("last_name_key", "birth_date"),
    ("first_name_key", "birth_date"),
    ("birth_date", "postcode"),
    ("last_name_key", "postcode"),
    ("first_name_key", "postcode"),
    ("postcode", "house_number"),
    ("street", "house_number"),
    ("email",),
    ("phone",),
    ("phone_last7", "first_initial"),
    ("national_id",),
    # one field alone, as Splink's FEBRL examples block: they find the duplicates whose other
    # fields were all replaced (FEBRL1-3 without soc_sec_id: 5 / 67 / 341 true pairs no rule above
    # made a candidate). Under BROAD_PAIRS_PER_RECORD, smallest blocks first.
    ("last_name_key",),
    ("first_name_key",),
    ("birth_date",),
    ("postcode",),
)
BROAD_RULES = {("last_name_key",), ("first_name_key",), ("birth_date",), ("postcode",)}
# Pairs a broad rule may add per signature (at least 100k): on the 1M person file, 2 per record
# (the other rules' budget) made it 45.8 s against 33.5 s for no F1 gain there.
BROAD_PAIRS_PER_RECORD = 0.25
# Measured on the 100k person file and FEBRL3 (true pairs found by one rule alone), and left out:
# email_local (0 and -), last_name_key + city (3 and 20, for 93k pairs at 100k and 6.7M at 1M),
# first_name_key + last_name_prefix3 (F1 unchanged on both without it; 43k of 194k pairs at 100k,
# 1.9M of 6.3M at 1M).


@dataclass(frozen=True)
class BlockingRule:
    keys: tuple[str, ...]

    @property
    def name(self) -> str:
        return "+".join(self.keys)

    def key_sql(self) -> list[str]:
        return [BLOCKING_KEYS[k][0] if k in BLOCKING_KEYS else k for k in self.keys]

    def columns(self) -> set[str]:
        cols: set[str] = set()
        for k in self.keys:
            cols.update(BLOCKING_KEYS[k][1] if k in BLOCKING_KEYS else (k,))
        return cols


def auto_rules(columns: set[str]) -> list[BlockingRule]:
    rules = [BlockingRule(r) for r in AUTO_RULES if BlockingRule(r).columns() <= columns]
    # every generic id column blocks on itself
    rules += [BlockingRule((c,)) for c in sorted(columns) if c.startswith("id__")]
    return rules


def rules_from_config(configured: list[list[str]] | str, columns: set[str]) -> list[BlockingRule]:
    if configured == "auto":
        return auto_rules(columns)
    return [BlockingRule(tuple(r)) for r in configured if BlockingRule(tuple(r)).columns() <= columns]


def key_aliases(rule: BlockingRule) -> list[str]:
    """The names a rule's keys take in blocking SQL: k0, k1, ..."""
    return [f"k{j}" for j in range(len(rule.keys))]


def key_columns(rule: BlockingRule) -> tuple[str, str, str]:
    """SQL fragments of a rule: its keys as k0, k1, ...; all of them non-null; their names."""
    aliases = key_aliases(rule)
    key_cols = ", ".join(f"{sql} AS {k}" for sql, k in zip(rule.key_sql(), aliases))
    not_null = " AND ".join(f"{k} IS NOT NULL" for k in aliases)
    return key_cols, not_null, ", ".join(aliases)


def key_hash(keys: list[str]) -> str:
    """SQL of a block's key hash: the one definition a full run stores its skipped blocks by
    (identity.skipped_blocks) and an incremental run matches its new records' blocks with."""
    return f"hash({', '.join(keys)})"


def count_comparisons(
    con: duckdb.DuckDBPyConnection, rule: BlockingRule, sigs: str, max_block_size: int,
    max_pairs: int | None = None, skipped: str | None = None,
) -> dict:
    """Pairs the rule would make, counted from its block sizes before any pair is built.

    Blocks above `max_block_size` are skipped, and those `skipped` lists (relation of rule,
    key_hash). With `max_pairs`, the cap is lowered further until
    the rule makes at most that many pairs: the largest blocks go first (the commonest names,
    whose pairs the other rules' keys narrow down better), so a rule's cost grows with the
    records, not with the square of its commonest value.
    """
    key_cols, not_null, using = key_columns(rule)
    sizes = con.execute(f"""
        WITH k AS (SELECT {key_cols} FROM {sigs}), s AS (
            SELECT count(*) AS n FROM k WHERE {not_null} {_not_skipped(rule, skipped)} GROUP BY {using})
        SELECT n, count(*) AS blocks FROM s WHERE n > 1 GROUP BY n ORDER BY n
    """).fetchall()
    cap, total = int(max_block_size), 0
    for n, blocks in sizes:
        if n > cap:
            break
        made = blocks * n * (n - 1) // 2
        if max_pairs is not None and total + made > max_pairs:
            cap = n - 1
            break
        total += made
    skipped_sizes = [(n, b) for n, b in sizes if n > cap]
    return {"rule": rule.name, "comparisons": int(total), "block_size_cap": cap,
            "skipped_blocks": sum(b for _, b in skipped_sizes),
            "skipped_signatures": sum(n * b for n, b in skipped_sizes)}


def _not_skipped(rule: BlockingRule, skipped: str | None) -> str:
    """SQL condition on a rule's keys k0.. : the block is not one `skipped` lists."""
    if not skipped:
        return ""
    return f"AND {key_hash(key_aliases(rule))} NOT IN (SELECT key_hash FROM {skipped} WHERE rule = '{rule.name}')"


@dataclass(frozen=True)
class StoredBlocking:
    """The blocking decisions of the last full run, which an incremental run keeps: each rule's
    block-size cap (`caps`: rule name -> cap) and the blocks it skipped (`skipped`: a relation of
    rule, key_hash). So a new record is compared with the blocks a full run compared, whatever the
    size of the subset an incremental run resolves (its budget would otherwise scale with it), and
    an incremental run need not re-resolve the records sharing only a skipped block with it."""
    caps: dict[str, int]
    skipped: str


def block(
    con: duckdb.DuckDBPyConnection, sigs: str, out: str, rules: list[BlockingRule], *,
    max_block_size: int, max_pairs_per_rule: int, cross_cluster_only: bool = True,
    sample_pairs: int | None = None, seed: int = 0, max_pairs_broad: int | None = None,
    stored: StoredBlocking | None = None, skipped_out: str | None = None,
) -> dict:
    """Table `out` (sl, sr, rule) of distinct candidate pairs, sl < sr; returns the counts.

    With `sample_pairs`, a rule making more pairs than that keeps a deterministic pseudo-random
    share of them (training needs the shape of the comparison vectors, not every pair). With
    `stored`, a rule it names keeps that run's cap and skipped blocks. With `skipped_out`, the
    blocks skipped go to that temp table (rule, key_hash), for a later incremental run.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out} (sl UINTEGER, sr UINTEGER, rule TINYINT)")
    if skipped_out:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {skipped_out} (rule VARCHAR, key_hash UBIGINT)")
    counts = []
    for i, rule in enumerate(rules):
        key_cols, not_null, using = key_columns(rule)
        kept = stored is not None and rule.name in stored.caps
        if kept:
            counted = count_comparisons(con, rule, sigs, stored.caps[rule.name], None, stored.skipped)
        else:
            cap = max_pairs_broad if max_pairs_broad is not None and rule.keys in BROAD_RULES else max_pairs_per_rule
            counted = count_comparisons(con, rule, sigs, max_block_size, cap)
        counts.append(counted)
        if skipped_out and counted["skipped_blocks"]:
            con.execute(f"""
                INSERT INTO {skipped_out}
                SELECT '{rule.name}', {key_hash(key_aliases(rule))}
                FROM (SELECT {key_cols} FROM {sigs}) WHERE {not_null}
                GROUP BY {using} HAVING count(*) > {int(counted["block_size_cap"])}
            """)
        if counted["comparisons"] == 0:
            continue
        cross = "AND l.cluster <> r.cluster" if cross_cluster_only else ""
        if sample_pairs and counted["comparisons"] > sample_pairs:
            keep = int(1_000_000 * sample_pairs / counted["comparisons"])
            cross += f" AND hash(l.sig, r.sig, {int(seed)}) % 1000000 < {keep}"
        con.execute(f"""
            INSERT INTO {out}
            WITH k AS (SELECT sig, cluster, {key_cols} FROM {sigs}),
                 kk AS (SELECT * FROM k WHERE {not_null} {_not_skipped(rule, stored.skipped if kept else None)}),
                 sizes AS (SELECT {using}, count(*) AS n FROM kk GROUP BY ALL),
                 b AS (SELECT kk.* FROM kk JOIN sizes USING ({using}) WHERE sizes.n <= {int(counted["block_size_cap"])})
            SELECT l.sig, r.sig, {i} FROM b l JOIN b r USING ({using})
            WHERE l.sig < r.sig {cross}
        """)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT sl, sr, min(rule) AS rule FROM {out} GROUP BY sl, sr")
    total = con.execute(f"SELECT count(*) FROM {out}").fetchall()[0][0]
    return {"rules": counts, "candidate_pairs": int(total),
            "skipped_blocks": sum(c["skipped_blocks"] for c in counts)}
