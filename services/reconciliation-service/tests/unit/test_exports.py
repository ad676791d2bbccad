"""CSV documents a bookkeeper imports: RFC 4180 quoting, and no cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io

import pytest

from reconciliation_service.exports import csv_document, safe_cell

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("-12.50", "-12.50"),  # an amount of ours is a number, not a formula
        ("Dana O'Hara", "Dana O'Hara"),
        (None, ""),
        (42, "42"),
    ],
)
def test_a_cell_that_starts_like_a_formula_stays_text(value: object, cell: str) -> None:
    assert safe_cell(value) == cell


def test_quotes_commas_and_line_breaks_round_trip_through_the_csv_module() -> None:
    awkward = ['Smith, "Jr."', "two\nlines", "=1+1", ""]
    document = csv_document(["a", "b", "c", "d"], [awkward])
    assert document.startswith("a,b,c,d\r\n")
    assert '"Smith, ""Jr."""' in document
    assert list(csv.reader(io.StringIO(document, newline=""))) == [
        ["a", "b", "c", "d"],
        ['Smith, "Jr."', "two\nlines", "'=1+1", ""],
    ]
