"""`cdp profiles`: golden profiles (survivorship + provenance) and computed traits."""
import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json, run_step, writing

DESCRIPTION = (
    "Rebuild profiles.golden (one row per customer, each attribute chosen by the survivorship rules of "
    "config/profiles.yaml, with its source record) and profiles.traits (activity, orders, revenue, RFM, "
    "declared traits), plus the profiles.customer_360 view segments read.")


def build_with_progress(home) -> dict:
    from profiles._steps import build_profiles

    with _ui.progress("golden profiles and traits", loggers=["profiles"]):
        return build_profiles(home)


def format_summary(result: dict) -> str:
    g, t = result["golden"], result["traits"]
    lines = [
        f"golden profiles: {g['profiles']}  (with email {g['with_email']}, phone {g['with_phone']}, "
        f"name {g['with_name']}; changed this run {g['changed']})",
        f"traits: {t['customers']} customers, {t['buyers']} buyers, revenue {t['revenue']} (base currency), "
        f"run date {t['run_date']}",
        "RFM segments: " + ", ".join(f"{k} {v}" for k, v in t["rfm_segments"].items()),
        f"declared traits: {t['custom_traits']}"
        + (f" (no data yet for: {', '.join(t['custom_traits_without_data'])})" if t["custom_traits_without_data"] else ""),
    ]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @command(app, "profiles", help="build golden profiles and computed traits from resolved identities",
             description=DESCRIPTION)
    def profiles_cmd(opts):
        def flow():
            from pipelines.flows.profiles import profiles_flow

            return profiles_flow(str(opts.home))

        with writing(opts):
            result = run_step(opts, lambda: build_with_progress(opts.home), flow, "cdp-profiles")
        if opts.json:
            emit_json(result)
            return 0
        _ui.console().print(format_summary(result), markup=False)
        if result["traits"]["orders_unconverted"]:
            _ui.warn(f"{result['traits']['orders_unconverted']} orders in a currency without a rate in "
                     "config/profiles.yaml (traits.currency_rates): their revenue is not counted", "profiles")
        return 0
