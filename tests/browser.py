"""Headless Chromium for the browser tests: Debian's binary, flags that keep it off the network, and a route that
lets a page reach only the local server (anything else is recorded and aborted)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def local_only(base_url: str, outside: list[str]) -> Callable[[object], None]:
    """A playwright route handler: requests under `base_url` go through, others are aborted and listed in `outside`."""

    def route(r) -> None:  # noqa: ANN001 - playwright Route
        if r.request.url.startswith(base_url):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    return route
