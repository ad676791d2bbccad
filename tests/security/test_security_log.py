"""Refused attempts leave a trace: one structured line each in the security log (reason, detail, route,
client address; never the token), and a count per reason that an alert watches."""

from __future__ import annotations

import json
import secrets
from typing import Any

from .firm import Firm
from .system import LINK, System, client_address, http_client
from .test_staff_auth import STAFF_READS, bad_authorizations


def refusals(system: System, client: str) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in system.logs.lines if '"paylinks.security"' in line)
    return [line for line in lines if line.get("client") == client]


async def refusal_count(system: System, reason: str) -> float:
    async with http_client(system.link.url) as scraper:
        metrics = (await scraper.get("/metrics")).text
    sample = f'paylinks_security_refusals_total{{reason="{reason}"}} '
    found = [line for line in metrics.splitlines() if line.startswith(sample)]
    return float(found[0].split()[-1]) if found else 0.0


async def test_each_auth_failure_and_missing_role_is_one_line_without_the_token(
    system: System, firm: Firm
) -> None:
    # Protection: paylinks_runtime.security_log.RefusalLog around every service (401 and 403).
    address = client_address()
    before = await refusal_count(system, "unauthorized")
    expired = bad_authorizations(firm.id)["expired"]
    assert expired is not None
    for service, path in STAFF_READS:
        async with http_client(system.services[service].url, address) as client:
            assert (await client.get(path, headers={"Authorization": expired})).status_code == 401
            no_role = {"Authorization": f"Bearer {firm.staff['Authorization'].split()[1]}"}
            if service == LINK:
                forbidden = await client.post("/v1/bank-accounts", json={"name": "x"}, headers=no_role)
                assert forbidden.status_code == 403
    lines = refusals(system, address)
    unauthorized = [line for line in lines if line["reason"] == "unauthorized"]
    assert len(unauthorized) == len(STAFF_READS), lines
    assert {line["detail"] for line in unauthorized} == {"token expired"}
    assert {line["route"] for line in unauthorized} == {path for _, path in STAFF_READS}
    assert [line["status"] for line in lines if line["reason"] == "forbidden"] == [403]
    assert await refusal_count(system, "unauthorized") >= before + len(STAFF_READS)
    token = expired.split()[1]
    assert not any(token in line or token.split(".")[2] in line for line in system.logs.lines)


async def test_an_oversized_body_and_a_rate_limit_are_logged_with_the_client(system: System) -> None:
    # Protection: RefusalLog sees the 413 of LimitBodySize and the 429 of link-service's pay limits; the
    # route is the template, never the path with its token.
    address = client_address()
    async with http_client(system.link.url, address) as client:
        too_large = await client.post("/v1/bank-accounts", content=b"x" * (64 * 1024 + 1))
        assert too_large.status_code == 413
        guessed = secrets.token_urlsafe(32)
        for _ in range(200):
            if (await client.get(f"/v1/pay/{guessed}")).status_code == 429:
                break
        else:
            raise AssertionError("no 429 after 200 guesses")
    lines = refusals(system, address)
    assert [line["reason"] for line in lines if line["status"] == 413] == ["body_too_large"]
    limited = [line for line in lines if line["reason"] == "rate_limited"]
    assert limited
    assert all(line["route"] == "/v1/pay/{token}" for line in limited), limited
    assert not any(guessed in line for line in system.logs.lines)
    assert await refusal_count(system, "rate_limited") >= 1
