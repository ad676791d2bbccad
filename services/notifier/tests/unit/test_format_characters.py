"""Bidi overrides and zero-width characters never reach an email as such."""

from __future__ import annotations

import pytest

from notifier.notices import Action, Notice
from notifier.rendering import render, visible_format_characters

pytestmark = pytest.mark.unit
HOSTILE = "Ada\u202eFDP.exe\u200b Smith\ufeff"


def test_format_characters_are_shown_as_their_code_point() -> None:
    assert visible_format_characters(HOSTILE) == "Ada[U+202E]FDP.exe[U+200B] Smith[U+FEFF]"
    assert visible_format_characters("Zoë Ñúñez 💸") == "Zoë Ñúñez 💸"


def test_no_part_of_an_email_carries_a_format_character() -> None:
    notice = Notice(
        subject=f"Payment received from {HOSTILE}",
        headline=f"{HOSTILE} paid",
        summary=f"Reference {HOSTILE}",
        details=(("Payer", HOSTILE),),
        action=Action("Link", "https://staff.example/payments/p/link"),
        note=HOSTILE,
    )
    email = render(notice)
    for part in (email.subject, email.text, email.html):
        assert not any(c in part for c in "\u202e\u200b\ufeff"), part
        assert "Ada[U+202E]FDP.exe" in part
