"""X-Forwarded-For is believed only from the proxies named in FORWARDED_ALLOW_IPS (none by default): a
client that spoofs it, even from 127.0.0.1 (which uvicorn trusts by default), is still its own address to
the rate limits and the logs. These tests call from 127.0.0.1, which no other test calls from."""

from __future__ import annotations

import secrets

from .system import System, http_client
from .test_security_log import refusals
from .test_staff_auth import STAFF_READS

LOOPBACK = "127.0.0.1"


def spoofed(i: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"203.0.113.{i % 250 + 1}", "X-Real-IP": f"198.51.100.{i % 250 + 1}"}


async def test_a_spoofed_forwarded_address_gets_no_fresh_rate_limit_budget(system: System) -> None:
    # Protection: paylinks_runtime.http.server_config (uvicorn's proxy headers off unless FORWARDED_ALLOW_IPS
    # names the proxy), so link-service's per-client limit keys on the socket's address.
    address = LOOPBACK
    async with http_client(system.link.url, address) as client:
        for i in range(200):
            guess = await client.get(f"/v1/pay/{secrets.token_urlsafe(32)}", headers=spoofed(i))
            if guess.status_code == 429:
                break
        else:
            raise AssertionError("200 guesses under new forwarded addresses were never limited")
    assert not any("203.0.113." in line for line in system.logs.lines)


async def test_every_service_sees_the_socket_address_not_the_forwarded_one(system: System) -> None:
    # Protection: server_config on every service; the security log writes the address the service saw.
    before = len(refusals(system, LOOPBACK))
    for service, path in STAFF_READS:
        async with http_client(system.services[service].url, LOOPBACK) as client:
            refused = await client.get(path, headers={"Authorization": "Bearer forged"} | spoofed(7))
            assert refused.status_code == 401
    assert len(refusals(system, LOOPBACK)) == before + len(STAFF_READS)
    assert not any("203.0.113." in line for line in system.logs.lines)
