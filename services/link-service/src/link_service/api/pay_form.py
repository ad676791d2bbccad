"""The HTML pay form: what a person types (dollars, MM/YY) into the API's PaymentInput, and validation
errors into plain words. Card and bank fields are never echoed back into the page."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from .payment_input import PaymentInput

KEPT_FIELDS = ("amount", "name", "email", "reference", "method")
_LABELS = {
    "amount": "Amount",
    "payer.name": "Your name",
    "payer.email": "Email",
    "reference": "Reference",
    "payment_method": "Card or bank account",
    "method": "Pay by",
}


@dataclass
class ParsedForm:
    values: dict[str, str]
    payment: PaymentInput | None = None
    errors: list[str] = field(default_factory=list)


def parse(form: dict[str, str]) -> ParsedForm:
    values = {name: form.get(name, "").strip() for name in KEPT_FIELDS}
    parsed = ParsedForm(values)
    cents = _cents(values["amount"], parsed.errors)
    body: dict[str, Any] = {
        "amount": cents,
        "method": values["method"] or "card",
        "reference": values["reference"] or None,
        "payer": {"name": values["name"], "email": values["email"]},
    }
    # The page's script sends the card or bank details to the processor and puts its token here.
    body["payment_method"] = form.get("payment_method", "")
    if form.get("authorization_accepted"):
        body["authorization"] = {"accepted": True}
    if parsed.errors:
        return parsed
    try:
        parsed.payment = PaymentInput.model_validate(body)
    except ValidationError as exc:
        parsed.errors = plain_words(exc)
    return parsed


_AMOUNT_CEILING = Decimal(10) ** 12  # far above any limit; keeps NaN, Infinity and 1e30 out of arithmetic


def _cents(text: str, errors: list[str]) -> int:
    try:
        amount = Decimal(text.replace(",", "").replace("$", "").strip() or "x")
    except InvalidOperation:
        errors.append("Amount: enter an amount such as 125.00.")
        return 0
    if not amount.is_finite() or abs(amount) >= _AMOUNT_CEILING:
        errors.append("Amount: enter an amount such as 125.00.")
        return 0
    if amount != amount.quantize(Decimal("0.01")):
        errors.append("Amount: use at most two decimal places.")
    return int(amount * 100)


def plain_words(exc: ValidationError) -> list[str]:
    messages = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        text = error["msg"].removeprefix("Value error, ")
        label = _LABELS.get(where)
        messages.append(f"{label}: {text}." if label else f"{text[:1].upper()}{text[1:]}.")
    return messages
