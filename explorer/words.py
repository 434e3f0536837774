"""How counts and ranks read to a person: "1 image", "2 images"; ranks "1, 2=, 2=, 4".

Pure string helpers with no dependencies, so every layer (CLI output, measures' notes, the app's text)
says a count and a rank the same way.
"""

from __future__ import annotations

from typing import Sequence

# Nouns whose plural is not noun + "s". Everything the app counts is here or regular.
IRREGULAR = {"child": "children", "person": "people", "index": "indices", "matrix": "matrices",
             "batch": "batches", "box": "boxes"}


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """``n`` and ``noun``, the noun in the plural unless ``n`` is 1: ``plural(1, "image")`` -> "1 image",
    ``plural(2448, "tag")`` -> "2,448 tags", ``plural(0, "file")`` -> "0 files".

    ``plural_form`` overrides the plural (default: :data:`IRREGULAR`, else ``noun + "s"``). The noun may be
    several words; only its last word changes ("1 file skipped" is spelt ``plural(1, "file") + " skipped"``).
    """
    n = int(n)
    if n == 1:
        return f"1 {noun}"
    if plural_form is None:
        head, _, last = noun.rpartition(" ")
        plural_form = (head + " " if head else "") + IRREGULAR.get(last, last + "s")
    return f"{n:,} {plural_form}"


def tie_ranks(scores: Sequence[float], *, decimals: int = 3) -> list[str]:
    """Standard competition ranks for scores sorted best first, ties marked with "=":
    ``[0.5, 0.4, 0.4, 0.1]`` -> ``["1", "2=", "2=", "4"]`` (two share rank 2, so the next is 4).

    Scores are compared as shown, rounded to ``decimals``: two scores that read the same share a rank,
    and two that read differently never do (no chain of near-equal scores drifting into one rank).
    """
    shown = [round(float(s), decimals) for s in scores]
    if any(a < b for a, b in zip(shown, shown[1:])):
        raise ValueError("scores must be sorted best first")
    first = {}
    for i, value in enumerate(shown):
        first.setdefault(value, i)  # competition ranking: a tie takes the position of its first member
    counts = {value: shown.count(value) for value in first}
    return [f"{first[v] + 1}=" if counts[v] > 1 else str(first[v] + 1) for v in shown]
