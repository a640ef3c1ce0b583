"""Does a change to the identity engine keep every answer? Resolve one warehouse with two source
trees (a baseline checkout and this one), full and then incremental, and compare every identity
table row for row.

    git worktree add /tmp/base HEAD~1
    .venv/bin/python benchmarks/identity_equality.py /tmp/gen20k/home --baseline /tmp/base

Each tree runs `benchmarks/resolve_warehouse.py`'s child on its own copy of the warehouse (1% of
the staging records held out of the full run and added by the incremental one). After each run
the identity tables are exported to Parquet without their run ids and timestamps (doubles
rounded to 9 digits) and compared with EXCEPT ALL both ways. Exits 1 when any row differs.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from resolve_warehouse import ROOT, run  # noqa: E402

# what a run decides, without when it ran or under which run id
TABLES = {
    "record_map": "SELECT source, record_id, customer_id FROM identity.record_map",
    "customers": "SELECT customer_id, record_count, first_seen, last_seen FROM identity.customers",
    "normalized_records": "SELECT * FROM identity.normalized_records",
    "edges": "SELECT * EXCLUDE (run_id, match_probability, match_weight), round(match_probability, 9), "
             "round(match_weight, 9) FROM identity.edges",
    "rejected_edges": "SELECT * EXCLUDE (run_id, match_probability), round(match_probability, 9) "
                      "FROM identity.rejected_edges",
    "edge_comparisons": "SELECT * EXCLUDE (run_id, weight), round(weight, 9) FROM identity.edge_comparisons",
    "identity_rows": "SELECT * EXCLUDE (run_id) FROM identity.identity_rows",
    "id_history": "SELECT old_customer_id, new_customer_id, reason FROM identity.id_history",
    "match_weights": "SELECT comparison, level, level_name, round(m_probability, 9), round(u_probability, 9) "
                     "FROM identity.match_weights",
}


def export(database: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(database), read_only=True)
    try:
        for name, sql in TABLES.items():
            con.execute(f"COPY ({sql}) TO '{folder / name}.parquet' (FORMAT parquet)")
    finally:
        con.close()


def compare(left: Path, right: Path) -> dict[str, tuple[int, int, int]]:
    con = duckdb.connect()
    out = {}
    for name in TABLES:
        a, b = f"read_parquet('{left / name}.parquet')", f"read_parquet('{right / name}.parquet')"
        out[name] = con.execute(
            f"SELECT (SELECT count(*) FROM {a}), (SELECT count(*) FROM (FROM {a} EXCEPT ALL FROM {b})), "
            f"(SELECT count(*) FROM (FROM {b} EXCEPT ALL FROM {a}))").fetchall()[0]
    con.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("home", type=Path, help="a home whose staging.customer_records is loaded (cdp ingest)")
    parser.add_argument("--baseline", type=Path, required=True, help="source tree of the baseline (a worktree)")
    parser.add_argument("--tree", type=Path, default=ROOT, help="source tree under test (default: this checkout)")
    parser.add_argument("--share", type=float, default=0.01)
    parser.add_argument("--work", type=Path, default=Path("/tmp/identity-equality"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    figures = {}
    for side, tree in (("baseline", args.baseline), ("tree", args.tree)):
        database = args.work / side / "warehouse.duckdb"
        database.parent.mkdir(parents=True)
        shutil.copy(args.home / "warehouse.duckdb", database)
        for mode in ("full", "incremental"):
            result = run(tree.resolve(), database, mode, args.share, "")
            figures[(side, mode)] = result
            export(database, args.work / side / mode)
    differ = 0
    for mode in ("full", "incremental"):
        b, t = figures[("baseline", mode)], figures[("tree", mode)]
        print(f"{mode}: baseline {b['seconds']:.1f} s, {b['peak_rss_mb']:,.0f} MB; "
              f"tree {t['seconds']:.1f} s, {t['peak_rss_mb']:,.0f} MB")
        for name, (rows, only_base, only_tree) in compare(args.work / "baseline" / mode, args.work / "tree" / mode).items():
            differ += only_base + only_tree
            print(f"  {name:<20} {rows:>12,} rows  only baseline {only_base:,}  only tree {only_tree:,}")
    print("equal" if differ == 0 else f"{differ:,} rows differ")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
