"""`cdp model`: the trained Fellegi-Sunter model of the last resolve run, as a person reads it."""
import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json

DESCRIPTION = (
    "Show the match model the last training resolve run stored (identity.match_weights): the prior, and "
    "for every comparison level its m (share of true matches), u (share of random pairs) and weight in "
    "bits. Levels are named as guards in config/identity.yaml name them.")


def register(app: typer.Typer) -> None:
    @command(app, "model", help="show the trained match model (m, u and weight per level)", description=DESCRIPTION)
    def model_cmd(opts):
        import polars as pl

        from warehouse.connection import connect_home

        con = connect_home(opts.home, read_only=True)
        try:
            weights = pl.from_arrow(con.sql(
                "SELECT * FROM identity.match_weights WHERE run_id = (SELECT run_id FROM identity.match_weights "
                "JOIN identity.runs USING (run_id) ORDER BY started_at DESC LIMIT 1)").to_arrow_table())
        finally:
            con.close()
        if weights.height == 0:
            _ui.warn("no trained model in this warehouse yet: run `cdp resolve --full`", opts.command)
            return 1
        if opts.json:
            emit_json(weights.to_dicts())
            return 0
        from identity.model import MatchModel

        _ui.console().print(MatchModel.from_frame(weights).describe(), markup=False)
        return 0
