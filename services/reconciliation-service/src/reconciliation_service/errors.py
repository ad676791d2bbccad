"""How the aggregate's refusals become HTTP statuses (the contract's 404 / 409 / 422)."""

from __future__ import annotations

from paylinks_runtime.aggregate import DomainError
from paylinks_runtime.errors import ApiError

from .domain import CONFLICT_CODES, NOT_FOUND_CODES


def http_status(error: DomainError) -> int:
    if error.code in NOT_FOUND_CODES:
        return 404
    return 409 if error.code in CONFLICT_CODES else 422


def as_api_error(error: DomainError) -> ApiError:
    return ApiError(http_status(error), error.code, error.message)
