"""MkDocs hook: the formulas that pymdownx.arithmatex marks, rendered at build time as MathML (latex2mathml).

Browsers draw MathML themselves, so the site's formulas need no JavaScript and no network (a MathJax from a
CDN would leave raw TeX on an offline machine).  A formula latex2mathml cannot convert is a warning, which
``mkdocs build --strict`` turns into an error.
"""

from __future__ import annotations

import html
import logging
import re

from latex2mathml.converter import convert

log = logging.getLogger("mkdocs.hooks.mathml")

# generic mode: <span class="arithmatex">\( ... \)</span> inline, <div class="arithmatex">\[ ... \]</div> displayed
_MATH = re.compile(r'<(span|div) class="arithmatex">\\([(\[])(.*?)\\[)\]]</\1>', re.S)


def _mathml(m, where):
    tag, opener, tex = m.group(1), m.group(2), html.unescape(m.group(3))
    display = "block" if opener == "[" else "inline"
    try:
        out = convert(tex.strip(), display=display)
    except Exception as e:  # noqa: BLE001 - any failure of the converter is reported, never hidden
        log.warning("%s: formula %r could not be converted to MathML: %s", where, tex[:80], e)
        return m.group(0)
    return f'<{tag} class="arithmatex">{out}</{tag}>'


def on_page_content(html_text, page, config, files):
    return _MATH.sub(lambda m: _mathml(m, page.file.src_path), html_text)
