"""Guards: evidence rules a probabilistic link must pass, stated in comparison level names.

A score adds evidence up; a guard says what kind of evidence is never enough, or what conflict no
sum of agreements outweighs (a name alone; two different dates of birth). Each guard is a rule in
`config/identity.yaml`:

    require_any: {kind: [level, ...], ...}   the link needs one of these to hold
                 or [{kind: [...], kind: [...]}, ...]: one of the groups, all of a group together
    refuse_when: {kind: [level, ...], ...}   the link is refused when one of these holds ...
    unless:      {kind: [level, ...], ...}   ... and none of these does
    veto_while_m_below: 0.02                 ... and only while the file's own trained m says its
                                             true matches rarely show what the guard refuses:
                                             with refuse_when, the m of those levels and of every
                                             weaker level of the comparison (a file whose matches
                                             often disagree outright on first names loses nothing
                                             by a merely similar one); with require_any, the share
                                             of true matches in which none of the evidence holds
                                             (comparisons independent, as the model takes them)
    veto_while_excess_above: 2               ... and a veto that m lets go still holds while the
                                             scored pairs it would refuse are more than twice what
                                             the file's matches would show by their own noise:
                                             look-alikes above the threshold (households,
                                             namesakes; see ExcessCheck)

Keys are comparison kinds (first_name, birth_date, email, id, text, ...), levels are the level
names of `identity.comparisons` ("else" is disagreement). A term whose kind the data lacks drops
out: a `refuse_when` guard with nothing left is off for that data, and said so; a `require_any`
guard with nothing left refuses every link (there is no evidence of the kind it asks for).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import polars as pl

from identity.comparisons import Comparison, comparisons_for, NAMED_COLUMNS

log = logging.getLogger(__name__)

KINDS = ("first_name", "last_name", "birth_date", "email", "phone", "national_id", "id", "street",
         "house_number", "address_line_2", "locality", "country", "gender", "text")


class GuardError(ValueError):
    pass


def _reference() -> dict[str, set[str]]:
    """Level names per kind, from the library itself (so config is checked without data)."""
    every = comparisons_for(list(NAMED_COLUMNS) + ["id__x", "text__x"])
    names: dict[str, set[str]] = {}
    for comp in every:
        names.setdefault(comp.kind, set()).update(comp.codes)
    return names


def validate(guards: dict) -> None:
    """Every guard names known kinds and levels; raise GuardError listing all problems."""
    ref = _reference()
    problems = []
    for gname, guard in guards.items():
        terms = []
        for part in ("require_any", "refuse_when", "unless"):
            value = getattr(guard, part) or {}
            for group in (value if isinstance(value, list) else [value]):
                terms += [(part, kind, levels) for kind, levels in group.items()]
        for part, kind, levels in terms:
            if True:
                if kind not in ref:
                    problems.append(f"guards.{gname}.{part}: unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
                    continue
                for level in levels:
                    if level not in ref[kind]:
                        problems.append(f"guards.{gname}.{part}.{kind}: unknown level {level!r}; "
                                        f"levels: {', '.join(sorted(ref[kind]))}")
        if guard.require_any and guard.refuse_when:
            problems.append(f"guards.{gname}: use either require_any or refuse_when (+ unless), not both")
    if problems:
        raise GuardError("invalid guards:\n  " + "\n  ".join(problems))


def _term(kind: str, levels: list[str], comparisons: tuple[Comparison, ...]) -> pl.Expr | None:
    exprs = []
    for comp in comparisons:
        if comp.kind == kind or comp.name == kind:
            codes = [comp.codes[lvl] for lvl in levels if lvl in comp.codes]
            if codes:
                exprs.append(pl.col(comp.name).is_in(codes))
    return pl.any_horizontal(exprs) if exprs else None


def _holds(terms, comparisons: tuple[Comparison, ...]) -> pl.Expr | None:
    """Any term of a dict; with a list of dicts, any dict whose terms all hold (a dict naming a
    kind the data lacks cannot hold)."""
    groups = terms if isinstance(terms, list) else [{k: v} for k, v in (terms or {}).items()]
    alternatives = []
    for group in groups:
        parts = [_term(kind, levels, comparisons) for kind, levels in group.items()]
        if parts and all(p is not None for p in parts):
            alternatives.append(pl.all_horizontal(parts))
    return pl.any_horizontal(alternatives) if alternatives else None


def _at_or_below(comp: Comparison, levels: list[str]) -> list[int]:
    """Codes of the listed levels and of every weaker level ("else" included, "null" not)."""
    listed = [comp.codes[lvl] for lvl in levels if lvl in comp.codes and lvl != "null"]
    return [code for code in comp.codes.values() if listed and 0 <= code <= max(listed)]


def _m_share(terms: dict, comparisons: tuple[Comparison, ...], model) -> float:
    """How often the model's true matches agree no better than the refuse_when levels (the
    largest share over the comparisons named)."""
    shares = [0.0]
    for kind, levels in terms.items():
        for comp in comparisons:
            if (comp.kind == kind or comp.name == kind) and comp.name in model.m:
                shares.append(sum(model.m[comp.name].get(code, 0.0) for code in _at_or_below(comp, levels)))
    return max(shares)


def _groups(terms) -> list[dict]:
    return terms if isinstance(terms, list) else [{k: v} for k, v in (terms or {}).items()]


def _m_probability(comparisons: tuple[Comparison, ...], model, any_of: list[dict] | None,
                   none_of: list[dict]) -> float:
    """P(some group of `any_of` holds (always, when None) and no group of `none_of` does | a true
    match), the comparisons taken as independent (as the weights take them) with their fields
    present: a group naming a comparison not in `comparisons` cannot hold.

    Exact over the product of each comparison's level classes (levels grouped by the terms they
    satisfy): a few hundred combinations for the default guards."""
    import itertools

    def resolve(groups: list[dict]) -> list[list[list[tuple[str, set[int]]]]]:
        out = []
        for group in groups:
            parts = []
            for kind, levels in group.items():
                found = [(c.name, {c.codes[lvl] for lvl in levels if lvl in c.codes})
                         for c in comparisons if (c.kind == kind or c.name == kind) and c.name in model.m]
                if not found:
                    break
                parts.append(found)
            else:
                out.append(parts)
        return out

    sides = {"any": resolve(any_of or []), "none": resolve(none_of)}
    tagged = [(side, g, parts) for side, groups in sides.items() for g, parts in enumerate(groups)]
    names = sorted({name for _, _, parts in tagged for term in parts for name, _ in term})
    classes = []
    for name in names:
        by_key: dict[tuple, float] = {}
        for code, m in model.m[name].items():
            if code < 0:
                continue
            key = tuple((side, g, t) for side, g, parts in tagged for t, term in enumerate(parts)
                        for cname, codes in term if cname == name and code in codes)
            by_key[key] = by_key.get(key, 0.0) + m
        classes.append(list(by_key.items()))

    def holds(side: str, met: set) -> bool:
        return any(all((side, g, t) in met for t in range(len(parts))) for g, parts in enumerate(sides[side]))

    total = 0.0
    for combo in itertools.product(*classes):
        p, met = 1.0, set()
        for key, m in combo:
            p *= m
            met.update(key)
        if (any_of is None or holds("any", met)) and not holds("none", met):
            total += p
    return total


def _m_none_holds(terms, comparisons: tuple[Comparison, ...], model) -> float:
    """Share of the model's true matches in which no group of a require_any holds."""
    return _m_probability(comparisons, model, None, _groups(terms))


@dataclass
class ExcessCheck:
    """Does a veto that the model's m lets go still catch look-alikes?

    The scored pairs the guard would refuse (all those above the threshold) are counted and set
    against the count expected if they were all true matches of this file: for each pattern of
    missing fields, the model's probability that a true match shows what the guard refuses,
    times the pairs of that pattern. About as many (FEBRL1-4 with and without soc_sec_id: 0.0-1.8
    times, the most on a handful of pairs): the conflicts are the matches' own noise and the veto
    yields. Several times more (FEBRL3 with households moved in: 3.6-7.5 times; the 100k person
    file's email veto: 2.6 times): look-alikes score above the threshold (a household, a namesake)
    and the veto holds. A handful of pairs is chance, not look-alikes: the excess must be
    significant (Poisson, 1%).

    A `refuse_when` guard's `unless` is read off the pairs, not modelled: only the pairs where it
    does not hold are counted, each expected to conflict as often as a match does. The scored pairs
    are not a random draw of the matches: a pair sharing an identifier that links by itself (a
    national id) was mostly joined before scoring, so the scored matches rarely show it. Modelled
    by m, that `unless` was taken to save nine matches in ten, and FEBRL's own duplicates whose
    birth date was replaced looked like look-alikes: FEBRL3 with soc_sec_id, 19 refused where 3.7
    were expected (5.2x; F1 0.9994), read off the pairs 26.5 among the 428 scored pairs without an
    agreeing national id (0.7x; F1 1.0000); FEBRL4, 11.1x and 0.9993 against 1.1x and 1.0000."""
    guard: object
    comparisons: tuple[Comparison, ...]
    model: object

    def expected(self, pairs: pl.DataFrame) -> float:
        g = self.guard
        if g.require_any:
            kinds = {k for group in _groups(g.require_any) for k in group}
        else:
            kinds = set(g.refuse_when)
            unless = _holds(g.unless, self.comparisons)
            if unless is not None and pairs.height:
                pairs = pairs.filter(~unless.fill_null(False))
        involved = [c.name for c in self.comparisons if (c.kind in kinds or c.name in kinds) and c.name in pairs.columns]
        if not involved or not pairs.height:
            return 0.0
        patterns = pairs.select([(pl.col(c) < 0).alias(c) for c in involved]).group_by(involved).len()
        total = 0.0
        for row in patterns.iter_rows(named=True):
            present = tuple(c for c in self.comparisons if not row.get(c.name, False))
            if g.require_any:
                p = _m_probability(present, self.model, None, _groups(g.require_any))
            else:
                p = _m_probability(present, self.model, _groups(g.refuse_when), [])
            total += p * row["len"]
        return total


@dataclass
class CompiledGuard:
    name: str
    refuses: pl.Expr | None      # None: off for this data
    note: str
    excess: ExcessCheck | None = None   # the veto yields unless the pairs show look-alikes


def compile_guards(guards: dict, comparisons: tuple[Comparison, ...], model=None) -> list[CompiledGuard]:
    out = []
    for name, guard in guards.items():
        if not guard.enabled:
            out.append(CompiledGuard(name, None, "disabled in config"))
            continue
        if guard.require_any:
            ok = _holds(guard.require_any, comparisons)
            if ok is not None and guard.veto_while_m_below is not None and model is not None:
                share = _m_none_holds(guard.require_any, comparisons, model)
                if share >= guard.veto_while_m_below:
                    why = (f"{share:.2%} of this data's matches show none of the evidence it asks for "
                           f"(it holds only below {guard.veto_while_m_below:.2%})")
                    out.append(_yielding(name, guard, ~ok, why, comparisons, model))
                    continue
            out.append(CompiledGuard(name, ~ok if ok is not None else pl.lit(True),
                                     "active" if ok is not None else "active: the data has none of the "
                                     "evidence it asks for, so it refuses every link"))
            continue
        bad = _holds(guard.refuse_when, comparisons)
        if bad is None:
            out.append(CompiledGuard(name, None, "off: the data lacks the fields it needs"))
            continue
        if guard.veto_while_m_below is not None and model is not None:
            share = _m_share(guard.refuse_when, comparisons, model)
            if share >= guard.veto_while_m_below:
                unless = _holds(guard.unless, comparisons)
                why = (f"this data's matches show it {share:.1%} of the time "
                       f"(veto only below {guard.veto_while_m_below:.1%})")
                out.append(_yielding(name, guard, bad & ~unless if unless is not None else bad, why,
                                     comparisons, model))
                continue
        unless = _holds(guard.unless, comparisons)
        out.append(CompiledGuard(name, bad & ~unless if unless is not None else bad, "active"))
    return out


def _yielding(name, guard, refuses, why, comparisons, model) -> CompiledGuard:
    """A guard whose veto the model lets go: off, or (with veto_while_excess_above) off unless the
    scored pairs show look-alikes, which apply_guards settles."""
    if guard.veto_while_excess_above is None:
        return CompiledGuard(name, None, f"off: {why}")
    return CompiledGuard(name, refuses, f"off unless the pairs it would refuse are over "
                                        f"{guard.veto_while_excess_above:g}x what its matches explain: {why}",
                         ExcessCheck(guard, comparisons, model))


EXCESS_SIGNIFICANCE = 0.01


def _poisson_tail(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam)."""
    import math

    if k <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    if lam > 1000:  # normal approximation, continuity-corrected
        return 0.5 * math.erfc((k - 0.5 - lam) / math.sqrt(2 * lam))
    log_terms = [-lam + i * math.log(lam) - math.lgamma(i + 1) for i in range(k)]
    top = max(log_terms)
    below = math.exp(top) * sum(math.exp(t - top) for t in log_terms)
    return max(0.0, 1.0 - below)


def _decide_excess(pairs: pl.DataFrame, guard: CompiledGuard) -> None:
    """Settle a yielding veto on the scored pairs: it holds while the pairs it would refuse are
    more than `veto_while_excess_above` times what the file's matches explain, beyond chance
    (Poisson, 1%)."""
    check = guard.excess
    factor = check.guard.veto_while_excess_above
    observed = int(pairs.select(guard.refuses.fill_null(False).sum()).item()) if pairs.height else 0
    expected = check.expected(pairs)
    ratio = observed / expected if expected > 0 else (float("inf") if observed else 0.0)
    counted = (f"it would refuse {observed:,} of {pairs.height:,} scored pairs, {ratio:.1f}x the "
               f"{expected:,.1f} its matches explain")
    reason = guard.note.split(": ", 1)[1]
    # more than `factor` times, and not by chance: one pair where 0.1 were expected is no household
    if _poisson_tail(observed, factor * expected) < EXCESS_SIGNIFICANCE:
        guard.note = f"active: {counted} (look-alikes: a household, a namesake), though {reason}"
    else:
        guard.refuses, guard.note = None, f"off: {reason}; {counted}"
    guard.excess = None
    log.info("guard %s: %s", guard.name, guard.note)


def apply_guards(pairs: pl.DataFrame, compiled: list[CompiledGuard]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(accepted, refused with `reason` = the first guard that refused the pair). A veto the model
    let go is first settled on all the scored pairs (ExcessCheck); its note says how."""
    for guard in compiled:
        if guard.excess is not None:
            _decide_excess(pairs, guard)
    refused = []
    for guard in compiled:
        if guard.refuses is None or pairs.height == 0:
            continue
        mask = pairs.select(guard.refuses.alias("x")).to_series().fill_null(False)
        if mask.any():
            refused.append(pairs.filter(mask).with_columns(pl.lit(guard.name).alias("reason")))
            pairs = pairs.filter(~mask)
    refused_frame = pl.concat(refused, how="vertical_relaxed") if refused else pairs.clear().with_columns(
        pl.lit(None, pl.Utf8).alias("reason"))
    return pairs, refused_frame
