"""`make up`: the whole stack on local defaults until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

from .stack import SERVICES, Stack, StackConfig


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
        f"  staff page:  {config.url('reconciliation-service')}/payments/<payment_id>/link",
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
