"""Unicode format characters (bidi overrides, zero-width) typed into a payer name or a reference never
reach an email as such: the subject and both bodies show their code points instead."""

from __future__ import annotations

from .firm import Firm, html_part, payment_body, text_part

FORMAT_CHARACTERS = "\u202e\u202d\u2066\u200b\u200d\ufeff"
NAME = "Ada \u202egnp.exe\u200b Client"
REFERENCE = "INV\u200d-7\u2066\ufeff"


async def test_format_characters_in_a_payer_name_or_reference_are_shown_not_obeyed(firm: Firm) -> None:
    # Protection: notifier rendering.visible_format_characters, applied to everything an email shows.
    await firm.receive_emails()
    token = await firm.account_token()
    payment_id = await firm.paid(token, payment_body(1_000, name=NAME, reference=REFERENCE))
    email = await firm.mail_about(payment_id, "Payment received")
    for part in (str(email["subject"]), text_part(email), html_part(email)):
        assert not any(c in part for c in FORMAT_CHARACTERS), ascii(part)
    assert "[U+202E]gnp.exe[U+200B]" in text_part(email)
    assert "INV[U+200D]-7" in html_part(email)
