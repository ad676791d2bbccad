"""How this service's refusals become HTTP statuses (the contract's 404 / 409 / 422), for the JSON API
(through the runtime's handler) and the pages that answer a refusal themselves."""

from __future__ import annotations

from paylinks_runtime.errors import RefusalStatuses

from .grants import GRANT_SPENT

# 409: the payment's state forbids it now; 422 (every other code): this request cannot work.
REFUSALS = RefusalStatuses(
    {
        "payment_not_found": 404,
        "already_linked": 409,
        "not_linked": 409,
        "refund_in_progress": 409,
        GRANT_SPENT: 403,  # an emailed link already used: the staff member signs in instead
    },
    default=422,
)
