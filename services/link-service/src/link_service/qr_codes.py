"""QR codes of a bank account's link: PNG, SVG, and a printable PDF page (name, instructions, code)."""

from __future__ import annotations

import io
from typing import Literal

import segno
from fpdf import FPDF

QrFormat = Literal["png", "svg", "pdf"]
MEDIA_TYPES: dict[str, str] = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
INSTRUCTIONS = "Scan this code with your phone's camera to pay securely by card or eCheck."


def qr_url(link_url: str) -> str:
    """The account link, marked so that payments made through the code are recorded as source qr_code."""
    return f"{link_url}?via=qr"


def render(link_url: str, fmt: QrFormat, *, account_name: str) -> bytes:
    code = segno.make(qr_url(link_url), error="m")
    if fmt == "svg":
        return _save(code, kind="svg", scale=8, title=f"Pay {account_name}")
    if fmt == "pdf":
        return _pdf_page(_save(code, kind="png", scale=10), account_name)
    return _save(code, kind="png", scale=8)


def _save(code: segno.QRCode, **options: object) -> bytes:
    buffer = io.BytesIO()
    code.save(buffer, border=4, **options)  # type: ignore[arg-type]
    return buffer.getvalue()


def _pdf_page(png: bytes, account_name: str) -> bytes:
    pdf = FPDF(format="Letter")
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=24)
    pdf.multi_cell(0, 12, _latin1(f"Pay {account_name}"), align="C")
    pdf.ln(4)
    pdf.set_font("Helvetica", size=14)
    pdf.multi_cell(0, 8, INSTRUCTIONS, align="C")
    pdf.ln(8)
    size = 120
    pdf.image(io.BytesIO(png), x=(pdf.w - size) / 2, w=size, h=size)
    return bytes(pdf.output())


def _latin1(text: str) -> str:
    """The PDF's core fonts are Latin-1: anything else prints as '?' rather than failing the page."""
    return text.encode("latin-1", "replace").decode("latin-1")
