"""The column reference in docs/ is generated from warehouse/catalog.yaml and must not drift from it."""
from warehouse.catalog import render_markdown


def test_docs_warehouse_tables_matches_the_catalog(repo_root):
    docs = (repo_root / "docs" / "warehouse-tables.md").read_text(encoding="utf-8")
    assert render_markdown(heading_level=2).strip() in docs, (
        "docs/warehouse-tables.md is stale: regenerate it from warehouse/catalog.yaml "
        "(see the command at the top of the file)"
    )
