"""HTML for jitkit's objects in Jupyter: the card style and a compile error's card.

Owns the markup only; :mod:`jitkit.notebook` (kernel cards, IPython hooks, progress) builds on it.
Here, at the bottom layer, so an error can render itself without reaching up into the notebook.
"""

from __future__ import annotations

import html
import linecache
import re

__all__ = ["STYLE", "error_html"]

STYLE = """<style>
.jitkit-card{font-family:system-ui,sans-serif;font-size:13px;border:1px solid #c8ccd0;border-radius:6px;
  padding:8px 12px;margin:4px 0;max-width:1100px}
.jitkit-card table{border-collapse:collapse;margin:6px 0}
.jitkit-card th,.jitkit-card td{border:1px solid #dde;padding:2px 8px;text-align:left;font-size:12px}
.jitkit-card pre{max-height:420px;overflow:auto;background:#f6f8fa;padding:6px;font-size:11px}
.jitkit-card summary{cursor:pointer;margin:2px 0}
.jitkit-error{border-color:#d33}
.jitkit-error .jitkit-msg{color:#b00;font-weight:bold;white-space:pre-wrap}
.jitkit-src{background:#f6f8fa;padding:4px 0;margin:4px 0;font-family:monospace;font-size:12px}
.jitkit-src div{white-space:pre;padding:0 8px}
.jitkit-error-line{background:#ffe3e3}
.jitkit-col{text-decoration:underline wavy #d00;font-weight:bold}
</style>"""


def error_html(err) -> str:
    """A :class:`~jitkit.CompileError` as HTML: the message, then for its location and each call
    site the source lines around it with the failing line highlighted and its column marked."""
    parts = [STYLE, '<div class="jitkit-card jitkit-error">',
             f'<div class="jitkit-msg">{html.escape(type(err).__name__)}: {html.escape(err.message)}</div>']
    sites = ([err.loc] if err.loc is not None else []) + list(err.chain)
    for i, loc in enumerate(sites):
        where = f"{loc.filename}, line {loc.line}" + (f", in {loc.func}" if loc.func else "")
        parts.append(f"<div>{'called from ' if i else ''}<code>{html.escape(where)}</code></div>")
        parts.append(_excerpt(loc, context=2 if i == 0 else 0))
    if err.hint:
        parts.append(f"<div><i>hint: {html.escape(err.hint)}</i></div>")
    parts.append("</div>")
    return "".join(parts)


def _excerpt(loc, context: int) -> str:
    lines = linecache.getlines(loc.filename)
    if not lines and loc.source_line:
        lines, first = [loc.source_line], loc.line
    else:
        first = 1
    rows = []
    for no in range(max(loc.line - context, first), loc.line + context + 1):
        if not first <= no < first + len(lines):
            continue
        text = lines[no - first].rstrip("\n")
        if no == loc.line:
            col = min(max(loc.col, 0), len(text))
            word = re.match(r"\w+|\S|$", text[col:]).group() or " "     # the token at the column
            mark = (html.escape(text[:col]) + f'<span class="jitkit-col">{html.escape(word)}</span>'
                    + html.escape(text[col + len(word.strip()):]))
            rows.append(f'<div class="jitkit-error-line">{no:5d}  {mark}</div>')
        else:
            rows.append(f"<div>{no:5d}  {html.escape(text)}</div>")
    return '<div class="jitkit-src">' + "".join(rows) + "</div>"
