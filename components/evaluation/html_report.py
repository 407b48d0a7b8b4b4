"""A Markdown report as one self-contained HTML page: its tables rendered and its PNG plots
inline, so that it displays where Markdown shows as plain text (MLflow's artifact view renders
HTML, not Markdown) and in any browser, wherever the file is moved to."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from markdown_it import MarkdownIt

_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+\.png)\)")
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 72em; color: #1f2328;
       line-height: 1.45; padding: 0 1em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #d0d7de; padding: 0.25em 0.6em; }
th { background: #f6f8fa; }
td { font-variant-numeric: tabular-nums; }
img { max-width: 100%; display: block; margin: 1em 0; }
code { background: #f6f8fa; padding: 0 0.2em; }
"""


def _inline_images(text: str, folder: Path) -> str:
    """Each `![alt](plot.png)` whose file is in `folder` as a data URI."""

    def inline(match: re.Match[str]) -> str:
        path = folder / match.group(2)
        if not path.is_file():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"![{match.group(1)}](data:image/png;base64,{data})"

    return _IMAGE.sub(inline, text)


def markdown_page(text: str, folder: Path, title: str) -> str:
    """The page for Markdown `text` whose plots lie in `folder`. Raw HTML in the text is shown
    as text, never run (task names and answers come from data)."""
    body = (
        MarkdownIt("commonmark", {"html": False})
        .enable("table")
        .render(_inline_images(text, folder))
    )
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body>\n{body}</body></html>\n"
    )
