"""Display form and key parts of plain ASCII names, column-wise: what names.py's per-value
functions give, without a Python call per distinct name (300k of them in a 1M-record file).

"Plain" is ASCII letters, apostrophes, dots and hyphens in words split by single spaces
("MARY-JANE o'neil", "Lic. Juan de la Cruz"): there `unidecode` and `casefold` are lower case,
`[^\\W\\d_]+` (a letter run) is `[A-Za-z]+`, whitespace is " ", and Polars' `to_titlecase`
capitalizes each letter run as `_display_word` does. Names with accents, digits, commas or odd
spacing go to the per-value functions. tests/identity/test_normalize_equality.py and
benchmarks/normalize_equality.py compare both ways.
"""
from __future__ import annotations

import re

import polars as pl

PLAIN_NAME = r"^[A-Za-z'.\-]+(?: [A-Za-z'.\-]+)*$"
_PLAIN_WORD = re.compile(r"^[a-z'.\-]+$")


def _padded(words: pl.Expr) -> pl.Expr:
    """' w1  w2  w3 ': every word between its own two spaces, so one pass of ' word ' patterns
    finds every match (adjacent words share no space)."""
    return pl.concat_str([pl.lit(" "), words.str.replace_all(" ", "  ", literal=True), pl.lit(" ")])


def _unpadded(padded: pl.Expr) -> pl.Expr:
    return padded.str.replace_all(r" +", " ").str.strip_chars(" ")


def _words_pattern(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def display_plain(names: pl.Expr, particles: frozenset[str]) -> pl.Expr:
    """`display_name_value` of plain names: each letter run capitalized, and a particle that is
    not the last word kept lower case."""
    titled = names.str.to_lowercase().str.to_titlecase()
    # every word but the last is followed by its own second space: " De  la  Cruz" -> " de  la  Cruz"
    padded = pl.concat_str([pl.lit(" "), titled.str.replace_all(" ", "  ", literal=True)])
    for particle in sorted(particles):
        padded = padded.str.replace_all(f" {particle.title()} ", f" {particle} ", literal=True)
    return padded.str.replace_all("  ", " ", literal=True).str.strip_prefix(" ")


def key_parts_plain(names: pl.Expr, titles: frozenset[str], particles: frozenset[str]) -> tuple[pl.Expr, pl.Expr]:
    """(kept, folded) of `name_key_parts_value` for plain names."""
    lowered = names.str.to_lowercase()
    # a title word, its trailing dots stripped ("Lic." "Jr"), or an Indonesian degree ("S.Kom")
    title_words = [t for t in titles if _PLAIN_WORD.match(t)]
    title = rf" (?:(?:{_words_pattern(title_words)})\.*|s\.[a-z.]+) "
    untitled = _padded(lowered).str.replace_all(title, "  ")
    tokens = untitled.str.replace_all(r"[^a-z0-9]+", " ").str.strip_chars(" ")
    kept = _unpadded(_padded(tokens).str.replace_all(rf" (?:{_words_pattern(sorted(particles))}) ", "  "))
    folded = lowered.str.replace_all(r"[^a-z0-9]+", " ").str.strip_chars(" ")
    return kept.replace("", None), folded.replace("", None)
