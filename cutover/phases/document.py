"""A report as a list of blocks, rendered as plain text, Markdown, or one self-contained HTML page.

`cutover plan` and the final report build one `Document` and render it in the format asked for,
so the three forms never drift apart. Text in blocks may hold `code` spans (backticks); nothing
else is interpreted.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from cutover.proof.report import table as text_table


@dataclass
class Heading:
    """A section title; level 1 is the document's own title."""

    level: int
    text: str


@dataclass
class Para:
    """A paragraph (one line of text, maybe long)."""

    text: str


@dataclass
class Table:
    """Rows under headers; columns listed in `right` are right-aligned (numbers).

    With `record_keys` = k, plain text shows each row as a record: its first k cells on one line,
    then each further cell on its own line (for rows with long prose, such as findings).
    """

    headers: list[str]
    rows: list[list[str]]
    right: tuple[int, ...] = ()
    record_keys: int = 0


@dataclass
class Bullets:
    """A list; an item starting with `[x] ` or `[ ] ` is a checklist item."""

    items: list[str]


@dataclass
class Code:
    """Preformatted text (a diff, a command's output)."""

    text: str


Block = Heading | Para | Table | Bullets | Code


@dataclass
class Document:
    """A title and its blocks."""

    title: str
    blocks: list[Block] = field(default_factory=list)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(Heading(level, text))

    def para(self, text: str) -> None:
        self.blocks.append(Para(text))

    def table(
        self,
        headers: list[str],
        rows: list[list[str]],
        right: tuple[int, ...] = (),
        record_keys: int = 0,
    ) -> None:
        self.blocks.append(Table(headers, rows, right, record_keys))

    def bullets(self, items: list[str]) -> None:
        if items:
            self.blocks.append(Bullets(items))

    def code(self, text: str) -> None:
        self.blocks.append(Code(text))

    def extend(self, other: Document, shift: int = 0) -> None:
        """Append another document's blocks, its headings `shift` levels deeper."""
        for block in other.blocks:
            self.blocks.append(
                Heading(block.level + shift, block.text) if isinstance(block, Heading) else block
            )


# -- plain text ------------------------------------------------------------------------------------


def to_text(doc: Document) -> str:
    """For a terminal: underlined titles, fixed-width tables, indented lists."""
    out = [doc.title, "=" * len(doc.title)]
    for block in doc.blocks:
        if isinstance(block, Heading):
            out += (
                ["", block.text, ("=" if block.level <= 1 else "-") * len(block.text)]
                if block.level <= 2
                else ["", block.text + ":"]
            )
        elif isinstance(block, Para):
            out.append(block.text)
        elif isinstance(block, Table) and block.record_keys:
            out += _records(block)
        elif isinstance(block, Table):
            rendered = (
                text_table(block.headers, block.rows, block.right) if block.rows else "  (none)"
            )
            out += ["  " + line for line in rendered.splitlines()]
        elif isinstance(block, Bullets):
            out += [f"  {item}" if _CHECK.match(item) else f"  - {item}" for item in block.items]
        else:
            out += ["    " + line for line in block.text.splitlines()]
    return "\n".join(out).rstrip() + "\n"


def _records(block: Table) -> list[str]:
    k = block.record_keys
    widths = [max((len(r[i]) for r in block.rows), default=0) for i in range(k)]
    out = []
    for row in block.rows:
        out.append("  " + "  ".join(c.ljust(w) for c, w in zip(row[:k], widths)).rstrip())
        out += [f"      {h}: {c}" for h, c in zip(block.headers[k:], row[k:]) if c]
    return out


# -- Markdown --------------------------------------------------------------------------------------


def to_markdown(doc: Document) -> str:
    """GitHub-flavoured Markdown: tables, task lists, fenced code."""
    out = [f"# {_md_inline(doc.title)}", ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            out += ["#" * min(block.level + 1, 6) + " " + _md_inline(block.text), ""]
        elif isinstance(block, Para):
            out += [_md_inline(block.text), ""]
        elif isinstance(block, Table):
            out.append("| " + " | ".join(_md_cell(h) for h in block.headers) + " |")
            out.append(
                "|"
                + "|".join("---:" if i in block.right else "---" for i in range(len(block.headers)))
                + "|"
            )
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            out.append("")
        elif isinstance(block, Bullets):
            out += [f"- {_md_inline(item)}" for item in block.items] + [""]
        else:
            fence = "````" if "```" in block.text else "```"
            out += [fence, block.text.rstrip("\n"), fence, ""]
    return "\n".join(out).rstrip() + "\n"


def _md_inline(text: str) -> str:
    # user data (table names, values) must not open HTML tags in a Markdown viewer
    return text.replace("<", "&lt;")


def _md_cell(text: str) -> str:
    return _md_inline(text).replace("|", "\\|").replace("\n", " ")


# -- HTML ------------------------------------------------------------------------------------------

_CHECK = re.compile(r"^\[([ xX!])\] ")
_CODE_SPAN = re.compile(r"`([^`]+)`")
_CSS = """
body{
  font:15px/1.5 system-ui,-apple-system,"Segoe UI","Noto Sans KR",sans-serif;
  max-width:1100px;
  margin:2em auto;
  padding:0 1em;
  color:#1b1f23;
}
h1{border-bottom:2px solid #d0d7de;padding-bottom:.3em}
h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.r{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
code{background:#f3f4f6;padding:0 3px;border-radius:3px}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;border-radius:4px}
ul{padding-left:1.4em}
li.task{list-style:none;margin-left:-1.2em}
.blocker{color:#b42318;font-weight:600}
.warning{color:#9a6700}
.info{color:#57606a}
.ok{color:#1a7f37;font-weight:600}
.failed{color:#b42318;font-weight:600}
"""
_STATUS_WORDS = {
    "blocker": "blocker",
    "warning": "warning",
    "info": "info",
    "ok": "ok",
    "done": "ok",
    "passed": "ok",
    "failed": "failed",
    "MISMATCH": "failed",
    "FAILED": "failed",
}


def to_html(doc: Document) -> str:
    """One self-contained page: inline CSS, no scripts, no external resources."""
    body = [f"<h1>{_html_inline(doc.title)}</h1>"]
    for block in doc.blocks:
        if isinstance(block, Heading):
            level = min(block.level + 1, 6)
            body.append(f"<h{level}>{_html_inline(block.text)}</h{level}>")
        elif isinstance(block, Para):
            body.append(f"<p>{_html_inline(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_html_inline(h)}</th>" for h in block.headers)
            rows = "".join(
                "<tr>"
                + "".join(_html_cell(c, i in block.right) for i, c in enumerate(row))
                + "</tr>"
                for row in block.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(block, Bullets):
            body.append("<ul>" + "".join(_html_item(item) for item in block.items) + "</ul>")
        else:
            body.append(f"<pre>{html.escape(block.text)}</pre>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(doc.title)}</title><style>{_CSS.strip()}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _html_inline(text: str) -> str:
    return _CODE_SPAN.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(text, quote=False))


def _html_cell(text: str, right: bool) -> str:
    css = _STATUS_WORDS.get(text.strip())
    classes = " ".join(c for c in ("r" if right else "", css or "") if c)
    return (
        f'<td class="{classes}">{_html_inline(text)}</td>'
        if classes
        else f"<td>{_html_inline(text)}</td>"
    )


def _html_item(item: str) -> str:
    m = _CHECK.match(item)
    if not m:
        return f"<li>{_html_inline(item)}</li>"
    box = {" ": "☐", "x": "☑", "X": "☑", "!": "☒"}[m.group(1)]
    return f'<li class="task">{box} {_html_inline(item[m.end() :])}</li>'
