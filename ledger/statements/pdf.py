"""A yearly statement as a PDF (ReportLab's platypus), with DejaVu Sans embedded (subset) so
that French accents, the euro sign and typographic spaces print as they are."""

from __future__ import annotations

import datetime as dt
import io
from importlib import resources
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import ListFlowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ledger.statements.content import MONEY_BUCKETS, Statement, describe
from ledger.web.i18n import Words

FONT = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"
MARGIN = 18 * mm
INK = colors.HexColor("#1a1a1a")
ACCENT = colors.HexColor("#0f2f57")
SHADE = colors.HexColor("#eceff6")
RULE = colors.HexColor("#9a9a9a")
WIDTH = A4[0] - 2 * MARGIN
_registered = False


def _register_fonts() -> None:
    global _registered
    if _registered:
        return
    folder = Path(str(resources.files("ledger.statements") / "fonts"))
    pdfmetrics.registerFont(TTFont(FONT, str(folder / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(folder / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD)
    _registered = True


STYLES = {
    "title": ParagraphStyle("title", fontName=FONT_BOLD, fontSize=16, leading=20,
                            textColor=ACCENT, spaceAfter=2),
    "heading": ParagraphStyle("heading", fontName=FONT_BOLD, fontSize=12.5, leading=16,
                              textColor=ACCENT, spaceBefore=10, spaceAfter=4),
    "body": ParagraphStyle("body", fontName=FONT, fontSize=10, leading=13.5, textColor=INK),
    "bold": ParagraphStyle("bold", fontName=FONT_BOLD, fontSize=10, leading=13.5,
                           textColor=INK, spaceBefore=4),
    "small": ParagraphStyle("small", fontName=FONT, fontSize=8.5, leading=11, textColor=INK),
    "cell": ParagraphStyle("cell", fontName=FONT, fontSize=9.5, leading=12, textColor=INK),
    "number": ParagraphStyle("number", fontName=FONT, fontSize=9.5, leading=12,
                             textColor=INK, alignment=TA_RIGHT),
}


def render(statement: Statement, words: Words, issued: dt.date) -> bytes:
    """The statement's PDF bytes."""
    _register_fonts()
    buffer = io.BytesIO()
    title = words("title", year=statement.year)
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN,
                                 topMargin=MARGIN, bottomMargin=MARGIN, title=title,
                                 author="cpa-ledger", creator="cpa-ledger statements",
                                 lang=words.language)
    footer = words("footer", year=statement.year, person=statement.person_key[:16] + "…",
                   page="{page}")

    def on_page(canvas: Any, page_document: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.setFillColor(colors.HexColor("#505050"))
        canvas.drawCentredString(A4[0] / 2, 10 * mm,
                                 footer.replace("{page}", str(page_document.page)))
        canvas.restoreState()

    story: list[Any] = []
    story += _header(statement, words, issued)
    story += _rights(statement, words)
    story += _credits(statement, words)
    story += _uses(statement, words)
    story += _expiring(statement, words)
    story += _options(statement, words)
    document.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()


def _p(text: str, style: str = "body") -> Paragraph:
    return Paragraph(escape(text), STYLES[style])


def _bullets(items: list[str], bullet: str = "•") -> ListFlowable:
    return ListFlowable([_p(item) for item in items], bulletType="bullet", start=bullet,
                        bulletFontName=FONT, bulletFontSize=10, leftIndent=12)


def _colon(words: Words, label: str) -> str:
    return f"{label}\u00a0:" if words.language == "fr" else f"{label}:"


def _header(statement: Statement, words: Words, issued: dt.date) -> list[Any]:
    parts: list[Any] = [_p(words("title", year=statement.year), "title"),
                        _p(words("subtitle", day=words.date(statement.end))), Spacer(1, 6)]
    if statement.identifier:
        parts.append(_p(f"{_colon(words, words('identifier'))} {statement.identifier}"))
    parts += [_p(_colon(words, words("person_key")), "small"),
              _p(statement.person_key, "small"),
              _p(words("issued", day=words.date(issued)), "small")]
    return parts


def _table(header: list[str], rows: list[list[str]], widths: tuple[float, ...],
           numeric: tuple[int, ...], totals: int = 0) -> Table:
    def cell(text: str, column: int) -> Paragraph:
        return _p(text, "number" if column in numeric else "cell")

    data = [[Paragraph(f"<b>{escape(text)}</b>", STYLES["number" if i in numeric else "cell"])
             for i, text in enumerate(header)]]
    data += [[cell(text, i) for i, text in enumerate(row)] for row in rows]
    style = [("BACKGROUND", (0, 0), (-1, 0), SHADE),
             ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
             ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]
    if totals:
        style.append(("LINEABOVE", (0, -totals), (-1, -totals), 1, INK))
    table = Table(data, colWidths=[WIDTH * share for share in widths], repeatRows=1,
                  hAlign="LEFT")
    table.setStyle(TableStyle(style))
    return table


def _rights(statement: Statement, words: Words) -> list[Any]:
    balance = statement.balance
    accounts = balance["accounts"]
    rows = []
    for name in (name for name in (*MONEY_BUCKETS, "c2p", "cpf_public") if name in accounts):
        account = accounts[name]
        ceiling = account.get("ceiling")
        rows.append([words(f"bucket_{name}"), words.amount(account["balance"], account["unit"]),
                     words.amount(ceiling, account["unit"]) if ceiling else "—"])
    unit = accounts["cpf"]["unit"]
    rows.append([words("held_total"), words.amount(balance["held"], unit), ""])
    rows.append([words("available"), words.amount(balance["available"], unit), ""])
    parts: list[Any] = [_p(words("rights", day=words.date(statement.end)), "heading"),
                        _table([words("bucket"), words("balance"), words("ceiling")], rows,
                               (0.52, 0.24, 0.24), (1, 2), totals=2), Spacer(1, 4)]
    pending = balance["pending"]
    if pending:
        parts.append(_bullets([words("pending_line", year=row["year"],
                                     amount=words.amount(row["cpf"], row.get("unit", unit)))
                               for row in pending]))
    else:
        parts.append(_p(words("no_pending")))
    return parts


def _line_rows(lines: list[dict[str, Any]], words: Words) -> list[list[str]]:
    return [[words.date(line["on"]), describe(line, words), words(f"short_{line['account']}"),
             words.amount(line["amount"], line["unit"])] for line in lines]


def _lines_table(lines: list[dict[str, Any]], words: Words) -> Table:
    return _table([words("on_day"), words("line"), words("right"), words("amount")],
                  _line_rows(lines, words), (0.22, 0.40, 0.18, 0.20), (3,))


def _credits(statement: Statement, words: Words) -> list[Any]:
    parts: list[Any] = [_p(words("credited", year=statement.year), "heading")]
    if not statement.credits and not statement.conversions:
        return [*parts, _p(words("credited_none", year=statement.year))]
    if statement.credits:
        parts.append(_lines_table(statement.credits, words))
    for line in statement.conversions:
        parts.append(_p(words("converted", day=words.date(line["on"]),
                              memo=line.get("memo", ""))))
    for year, sentences in statement.why.items():
        parts += [_p(f"{words('why')} — {year}", "bold"), _bullets(sentences)]
    return parts


def _uses(statement: Statement, words: Words) -> list[Any]:
    parts: list[Any] = [_p(words("used", year=statement.year), "heading")]
    if statement.uses:
        parts.append(_lines_table(statement.uses, words))
    else:
        parts.append(_p(words("used_none", year=statement.year)))
    held = statement.balance["held"]
    if held != "0.00":
        unit = statement.balance["accounts"]["cpf"]["unit"]
        parts.append(_p(words("held_now", day=words.date(statement.end),
                              amount=words.amount(held, unit))))
    return parts


def _expiring(statement: Statement, words: Words) -> list[Any]:
    horizon = statement.end.replace(year=statement.year + 1)
    parts: list[Any] = [_p(words("expiring", day=words.date(horizon)), "heading")]
    if not statement.expiring:
        return [*parts, _p(words("expiring_none", day=words.date(horizon)))]
    unit = statement.balance["accounts"]["topups"]["unit"]
    parts.append(_bullets([words("expiring_line", grant=grant["grant_id"],
                                 funder=grant["funder_type"],
                                 amount=words.amount(grant["balance"], unit),
                                 on=words.date(grant["expires_on"]),
                                 refund=words("expiring_refund") if grant["refundable"] else "")
                           for grant in statement.expiring]))
    return parts


def _options(statement: Statement, words: Words) -> list[Any]:
    parts: list[Any] = [_p(words("options"), "heading")]
    if not statement.options:
        return [*parts, _p(words("no_option"))]
    parts.append(_bullets(statement.options))
    if statement.c2p_uses:
        parts.append(ListFlowable([_p(use) for use in statement.c2p_uses], bulletType="bullet",
                                  start="\u2013", bulletFontName=FONT, leftIndent=28,
                                  bulletDedent=12))
    return parts
