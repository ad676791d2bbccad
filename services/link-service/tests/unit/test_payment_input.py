"""The v2 pay body: a processor token, never card or bank numbers."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from link_service.api.payment_input import PaymentInput
from link_service.domain.raw_payment_details import carries_raw_payment_details, holds_card_number
from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.testing import CARD_EXPIRY_YEAR

pytestmark = pytest.mark.unit


def body(**fields: Any) -> dict[str, Any]:
    return {
        "amount": 12_500,
        "method": "card",
        "payer": {"name": "Ada", "email": "ada@example.com"},
        "payment_method": "pm_abc123",
        **fields,
    }


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424242",
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        "card 4000000000000002 thanks",
        "card:4242424242424242.",
        "378282246310005",
        "key 5f0e9c2a-7b1d-4e3f-8234-424242424243 and card 4242424242424242",
    ],
)
def test_card_numbers_are_found_however_they_are_written(text: str) -> None:
    assert holds_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "2026-0042",
        "4242424242424241",
        "12345678901",
        "pm_4242424242424242x",
        # processor tokens whose hex holds a Luhn-valid run of digits (CI drew one: pm_ + uuid4().hex)
        "pm_4242424242424242abcdefabcdefab",
        "pm_abcdef4242424242424242abcdefab",
        "pm_abcdefabcdefab4242424242424242",
        "Ada",
        # an Idempotency-Key whose dashed digit groups, read together, pass Luhn (the chaos suite drew one)
        "5f0e9c2a-7b1d-4e3f-8234-424242424243",
    ],
)
def test_other_text_is_not_a_card_number(text: str) -> None:
    assert not holds_card_number(text)


@pytest.mark.parametrize(
    "raw",
    [
        body(
            card={"number": "4242424242424242", "exp_month": 12, "exp_year": CARD_EXPIRY_YEAR, "cvc": "123"}
        ),
        body(bank={"routing_number": "110000000", "account_number": "000123456789"}),
        body(method="echeck", routing_number="110000000"),
        body(reference="4242 4242 4242 4242"),
        body(payer={"name": "4000000000000002", "email": "a@example.com"}),
        body(notes=[{"cvc": "123"}]),
    ],
)
def test_bodies_with_card_or_bank_details_are_caught(raw: dict[str, Any]) -> None:
    assert carries_raw_payment_details(raw)


def test_no_processor_token_is_taken_for_a_card_number() -> None:
    # the sandbox's tokens are pm_ + uuid4 hex; a run of 12+ digits in one is common enough to matter
    tokens = [f"pm_{uuid.UUID(int=random.Random(seed).getrandbits(128)).hex}" for seed in range(20_000)]
    assert not [token for token in tokens if carries_raw_payment_details(body(payment_method=token))]


def test_a_v2_body_is_not_caught() -> None:
    assert not carries_raw_payment_details(body(reference="Matter 2026-0042"))


def test_a_v2_body_becomes_a_request() -> None:
    request = PaymentInput.model_validate(body(reference="2026-0042")).to_request(via_qr=True)
    assert (request.amount, request.method, request.payment_method) == (12_500, "card", "pm_abc123")
    assert request.via_qr
    assert not request.authorization_accepted


@pytest.mark.parametrize("token", ["", "4242424242424242", "tok_123", "pm_", "pm_a b"])
def test_the_payment_method_must_be_a_processor_token(token: str) -> None:
    with pytest.raises(ValidationError):
        PaymentInput.model_validate(body(payment_method=token))


def test_an_echeck_without_the_authorization_accepted_is_refused() -> None:
    for extra in ({}, {"authorization": {"accepted": False}}):
        request = PaymentInput.model_validate(body(method="echeck", **extra)).to_request(via_qr=False)
        with pytest.raises(DomainError) as refused:
            request.check_authorized()
        assert refused.value.code == "authorization_required"
    accepted = body(method="echeck", authorization={"accepted": True})
    PaymentInput.model_validate(accepted).to_request(via_qr=False).check_authorized()


def test_the_fingerprint_covers_the_request_and_the_link_only() -> None:
    request = PaymentInput.model_validate(body()).to_request(via_qr=False)
    same = PaymentInput.model_validate(body()).to_request(via_qr=False)
    other = PaymentInput.model_validate(body(amount=12_501)).to_request(via_qr=False)
    assert request.fingerprint("link-1") == same.fingerprint("link-1")
    assert request.fingerprint("link-1") != other.fingerprint("link-1")
    assert request.fingerprint("link-1") != request.fingerprint("link-2")
