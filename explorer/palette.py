"""Tag colours made for telling tags apart, stable per tag, in colour families when tags come in groups.

The 30 colours were chosen by farthest-point search in CIELAB under CIEDE2000 over sRGB colours with a
contrast ratio of at least 3:1 against white (WCAG's bar for graphics), then polished by coordinate
ascent on the smallest pairwise distance. ``WARM`` (reds, pinks, oranges, browns) and ``COOL`` (blues,
greens, teals, purples) are the two families; ``NEUTRAL`` (greys, olives) extends the list to 30.
Any two of the first 24 differ by CIEDE2000 >= 16.5, any two of all 30 by >= 15 (tests/test_palette.py).

Colours come from :func:`tag_colors`, which callers run once on a whole set so that every page colours
a tag the same, whatever subset of rows one chart draws.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from explorer.imageset import tag_order

WARM = ("#F85870", "#C83818", "#880048", "#B09000", "#880818", "#C080A8",
        "#605020", "#A05860", "#E87020", "#987048", "#C82898", "#783800")
COOL = ("#38A0C0", "#084088", "#30A860", "#005048", "#7878A0", "#7840B8",
        "#007090", "#3080F8", "#008880", "#584060", "#B078F8", "#007038")
NEUTRAL = ("#889088", "#606060", "#688000", "#B88880", "#684840", "#687050")
# Without groups the families alternate, so neighbouring tags in first-seen order differ in hue too.
PALETTE = tuple(c for pair in zip(WARM, COOL) for c in pair) + NEUTRAL
FAMILIES = (WARM, COOL, NEUTRAL)


def tag_colors(tags: Sequence[str], groups: Sequence[str] | None = None) -> dict[str, str]:
    """A colour per distinct tag (first-seen order); ``groups`` (one per row, like ``tags``) sorts tags into families.

    Without ``groups`` the i-th distinct tag gets ``PALETTE[i]``. With them, the tags of the first-seen
    group take the warm family in order, the second group's the cool family, the third's the neutral
    one; a group with more tags than its family (or a fourth group) continues with the colours no tag
    has taken yet. Past 30 tags colours repeat.
    """
    distinct = tag_order(tags)
    if groups is None:
        return {tag: PALETTE[i % len(PALETTE)] for i, tag in enumerate(distinct)}
    if len(groups) != len(tags):
        raise ValueError(f"groups has {len(groups)} entries but tags has {len(tags)}")
    group_of = tag_groups(tags, groups)
    members: dict[str, list[str]] = {}
    for tag in distinct:
        members.setdefault(group_of[tag], []).append(tag)
    out: dict[str, str] = {}
    overflow: list[str] = []
    for g, (_, group_tags) in enumerate(members.items()):
        family = FAMILIES[g] if g < len(FAMILIES) else ()
        out.update(zip(group_tags, family))
        overflow += group_tags[len(family):]
    spare = [c for c in PALETTE if c not in set(out.values())] or list(PALETTE)
    out.update({tag: spare[i % len(spare)] for i, tag in enumerate(overflow)})
    return {tag: out[tag] for tag in distinct}


def tag_groups(tags: Sequence[str], groups: Sequence[str]) -> dict[str, str]:
    """Each tag's group (the group of its first row)."""
    out: dict[str, str] = {}
    for t, g in zip(tags, groups):
        out.setdefault(str(t), str(g))
    return out


def grouping_column(columns: Mapping[str, Sequence[str]], tag_column: str) -> str | None:
    """Another column that groups the tags (every tag in exactly one group, 2 <= groups < tags), else None.

    demo:hands' ``kind`` (hand/object) groups its ``tag`` column. Among several, the one with the
    fewest groups wins (the coarsest family split), ties broken by column order.
    """
    tags = [str(t) for t in columns[tag_column]]
    n_tags = len(set(tags))
    best: tuple[int, str] | None = None
    for name, values in columns.items():
        if name == tag_column or len(values) != len(tags):
            continue
        pairs = set(zip(tags, (str(v) for v in values)))
        n_groups = len({g for _, g in pairs})
        if len(pairs) == n_tags and 2 <= n_groups < n_tags and (best is None or n_groups < best[0]):
            best = (n_groups, name)
    return best[1] if best else None


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """``"#RRGGBB"`` -> (r, g, b) in 0..255."""
    c = color.lstrip("#")
    if len(c) != 6:
        raise ValueError(f"expected #RRGGBB, got {color!r}")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def contrast_on_white(color: str) -> float:
    """WCAG contrast ratio of ``color`` against white (1 = invisible, 21 = black)."""
    def channel(v: int) -> float:
        v = v / 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in hex_to_rgb(color))
    return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05)
