"""Serve an aiohttp app on its own event loop in a daemon thread (tests, the local cloud, the demo)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from aiohttp import web

from .app import create_app
from .state import FakeStripe


def serve_in_thread(
    make_app: Callable[[], web.Application], host: str = "127.0.0.1", port: int = 0, *, name: str = "aiohttp"
) -> tuple[str, Callable[[], None]]:
    """Start the app; answers its base URL (port 0 → one the OS picked) and a function that stops it."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    outcome: dict[str, object] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        # A short shutdown: stopping must not wait out handlers hung on purpose (injected faults).
        runner = web.AppRunner(make_app(), access_log=None, shutdown_timeout=1.0)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, host, port)
            loop.run_until_complete(site.start())
            outcome["port"] = runner.addresses[0][1]
        except Exception as exc:  # noqa: BLE001 - handed to the starting thread, which raises it
            outcome["error"] = exc
            ready.set()
            loop.run_until_complete(runner.cleanup())
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    if not ready.wait(timeout=10):
        raise RuntimeError(f"{name} did not start within 10 s")
    error = outcome.get("error")
    if isinstance(error, Exception):
        raise error

    def stop() -> None:
        if thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)

    return f"http://{host}:{outcome['port']}", stop


def run_in_thread(fake: FakeStripe, host: str = "127.0.0.1", port: int = 0) -> tuple[str, Callable[[], None]]:
    """Run the fake (API, control routes, webhook delivery) in a background thread.

    >>> fake = FakeStripe()
    >>> base_url, stop = run_in_thread(fake)
    >>> # StripeClient("sk_test_x", base_addresses={"api": base_url}) now talks to the fake
    >>> stop()
    """
    return serve_in_thread(lambda: create_app(fake), host, port, name="fake-stripe")
