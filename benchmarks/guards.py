"""What each guard of config/identity.yaml costs and saves, per dataset: F1 with all, none, and all but one.

    .venv/bin/python benchmarks/guards.py [--files DIR ...] [--generated 2000] [--cache-dir /tmp/bench-guards]

Files are dataset folders written by benchmarks/identity.py / febrl.py / person_file.py
(data.csv + mapping.yaml + truth.parquet); without --files it writes FEBRL1-3 without soc_sec_id
(needs `pip install -e '.[bench]'`) and a 100k person file. `--generated N` also resolves a
warehouse of N generated customers (seed 7) ingested by the connectors. The model is trained once
per dataset with every guard on and reused, so only the guards change between rows.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))  # after the packages: benchmarks/identity.py would shadow identity/


def _pairwise(labels, person) -> tuple[float, float, float]:
    import polars as pl

    frame = pl.DataFrame({"c": labels, "p": person})

    def pairs(keys):
        return frame.group_by(keys).len().select((pl.col("len") * (pl.col("len") - 1) // 2).sum()).item()

    tp, predicted, true = pairs(["c", "p"]), pairs(["c"]), pairs(["p"])
    precision = tp / predicted if predicted else 0.0
    recall = tp / true if true else 0.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def file_rows(folder: Path, settings) -> list[tuple[str, float, float, float]]:
    import polars as pl

    from identity.engine import run_engine
    from identity.resolve_file import load_mapping, read_input, to_records

    frame = read_input(folder / "data.csv")
    mapping = load_mapping(folder / "mapping.yaml", frame.columns)
    records = to_records(frame, mapping)
    truth = pl.read_parquet(folder / "truth.parquet").select("record_id", "person_id")
    person = records.select("record_id").join(truth, on="record_id", how="left")["person_id"]
    kept = [t for t in settings.deterministic.priority if t in settings.file_identifiers]
    base = settings.model_copy(update={"deterministic": settings.deterministic.model_copy(
        update={"max_names_per_value": settings.file_max_names_per_value})})
    trained = run_engine(records, base, m_training="em", link_types=kept)
    rows = [("all guards", *_pairwise(trained.labels, person))]
    for name, guards in [("no guards", {})] + [
            (f"without {g}", {k: v for k, v in base.guards.items() if k != g}) for g in base.guards]:
        result = run_engine(records, base.model_copy(update={"guards": guards}), model=trained.model,
                            m_training="em", link_types=kept)
        rows.append((name, *_pairwise(result.labels, person)))
    return rows


def generated_rows(customers: int, cache: Path, settings) -> list[tuple]:
    import polars as pl

    from connectors.runner import ingest_all
    from identity import resolve
    from identity.evaluation import evaluate
    from pipelines.sample_data import generate
    from warehouse.connection import connect_home

    folder = cache / f"generated{customers}"
    if not (folder / "READY").exists():
        shutil.rmtree(folder, ignore_errors=True)
        generate(folder / "src", customers=customers, seed=7)
        ingest_all(folder / "home", source_dir=folder / "src")
        (folder / "READY").write_text("ok\n")
    truth = pl.read_parquet(folder / "src" / "truth.parquet")
    rows = []
    for name, guards in [("all guards", settings.guards), ("no guards", {})] + [
            (f"without {g}", {k: v for k, v in settings.guards.items() if k != g}) for g in settings.guards]:
        con = connect_home(folder / "home")
        try:
            con.execute("DROP SCHEMA IF EXISTS identity CASCADE")
            resolve(con, mode="full", settings=settings.model_copy(update={"guards": guards}))
            record_map = pl.from_arrow(con.sql(
                "SELECT source, record_id, customer_id FROM identity.record_map").to_arrow_table())
        finally:
            con.close()
        e = evaluate(record_map, truth)
        rows.append((f"{name} ({e['fused_customers']} fused)", e["precision"], e["recall"], e["f1"]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", nargs="*", type=Path, help="dataset folders (data.csv, mapping.yaml, truth.parquet)")
    parser.add_argument("--generated", type=int, default=2000, help="generated customers (0: skip)")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/bench-guards"))
    args = parser.parse_args(argv)
    from config.identity import load_identity_settings

    settings = load_identity_settings()
    folders = args.files
    if folders is None:
        from febrl import export_febrl
        import person_file

        folders = []
        for name in ("febrl1-nossn", "febrl2-nossn", "febrl3-nossn"):
            folder = args.cache_dir / name
            if not (folder / "truth.parquet").exists():
                export_febrl(name, folder)
            folders.append(folder)
        folder = args.cache_dir / "person-100k"
        if not (folder / "truth.parquet").exists():
            person_file.main(["--records", "100000", "--seed", "7", "--out", str(folder)])
        folders.append(folder)
    for folder in folders:
        print(f"\n{folder.name}")
        for name, p, r, f in file_rows(folder, settings):
            print(f"  {name:<42} P {p:.4f}  R {r:.4f}  F1 {f:.4f}")
    if args.generated:
        print(f"\ngenerated, {args.generated:,} customers (seed 7)")
        for name, p, r, f in generated_rows(args.generated, args.cache_dir, settings):
            print(f"  {name:<42} P {p:.4f}  R {r:.4f}  F1 {f:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
