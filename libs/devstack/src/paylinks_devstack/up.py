"""`make up`: the whole stack on local defaults until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from urllib.parse import quote

from .stack import SERVICES, Stack, StackConfig


def workspace_addresses(config: StackConfig, firm_id: str | None = None) -> list[str]:
    """Where staff work (the workspace's payments list) and the development sign-in, for one firm if named."""
    workspace = config.url("reconciliation-service")
    sign_in = f"{workspace}/dev/sign-in" + (f"?firm_id={quote(firm_id, safe='')}" if firm_id else "")
    return [
        f"staff workspace: {workspace}/payments",
        f"development sign-in{' for this firm' if firm_id else ''}: {sign_in}",
    ]


def banner(config: StackConfig) -> str:
    lines = ["", "paylinks is up:"]
    for service in SERVICES:
        lines.append(
            f"  {service:<24} {config.url(service)}   (docs: {config.url(service)}/docs,"
            f" log: {config.home / 'logs' / service}.log)"
        )
    lines += [
        f"  {'smtp sink':<24} 127.0.0.1:{config.smtp_port}   (mail lands in {config.maildir})",
        "",
        f"  pay pages:   {config.url('link-service')}/pay/<token>",
        *(f"  {line}" for line in workspace_addresses(config)),
        f"  emailed page: {config.url('reconciliation-service')}/payments/<payment_id>/link?grant=...",
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


async def run(home: Path) -> None:
    stack = Stack(StackConfig(home=home))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stack.start()
        print(banner(stack.config), flush=True)
        await stop.wait()
        print("\nstopping...", flush=True)
    finally:
        await stack.stop()


def main() -> None:
    home = Path(os.environ.get("PAYLINKS_HOME", ".local")) / "stack"
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(home))
