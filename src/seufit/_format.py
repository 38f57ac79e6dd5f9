"""Plain-text and HTML tables shared by every result's ``__str__`` and ``_repr_html_``."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

__all__ = ["num", "text_table", "html_table", "html_block"]


def num(v, digits: int = 4) -> str:
    """Compact number: general format, '-' for None, 'nan'/'inf' spelled out."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return str(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f"{f:.{digits}g}"


def text_table(headers: Sequence[str], rows: Sequence[Sequence], indent: str = "  ") -> str:
    """Left-aligned first column, right-aligned others."""
    cells = [[str(h) for h in headers]] + [[c if isinstance(c, str) else num(c) for c in r]
                                           for r in rows]
    widths = [max(len(r[j]) for r in cells) for j in range(len(headers))]
    lines = []
    for i, r in enumerate(cells):
        parts = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        lines.append(indent + "  ".join(parts).rstrip())
        if i == 0:
            lines.append((indent + "  ".join("-" * w for w in widths)).rstrip())
    return "\n".join(lines)


def html_table(headers: Sequence[str], rows: Sequence[Sequence], caption: str | None = None,
               row_classes: Sequence[str] | None = None) -> str:
    """A small HTML table; cells are escaped."""
    out = ['<table class="seufit">']
    if caption:
        out.append(f"<caption>{html.escape(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
               + "</tr></thead><tbody>")
    for i, r in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes else ""
        tds = "".join(f"<td>{html.escape(c if isinstance(c, str) else num(c))}</td>" for c in r)
        out.append(f"<tr{cls}>{tds}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def html_block(title: str, source: str, headers: Sequence[str], rows: Sequence[Sequence],
               caption: str, messages: Sequence[str] = ()) -> str:
    """A result's notebook view: bold title and source, one table, its notes."""
    parts = [f"<div><b>{html.escape(title)}</b> &mdash; {html.escape(source)}<br>",
             html_table(headers, rows, caption=caption)]
    parts += [f"note: {html.escape(m)}<br>" for m in messages]
    parts.append("</div>")
    return "".join(parts)
