"""Run the fake Stripe on its own: `python -m local.fake_stripe --platform-webhook URL --platform-secret S`."""

from __future__ import annotations

import argparse

from aiohttp import web

from .app import create_app
from .state import FakeStripe
from .webhooks import WebhookEndpoint


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local.fake_stripe", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--api-key", help="accept only this secret key (default: any sk_test_…)")
    parser.add_argument("--platform-webhook", help="URL of the platform webhook endpoint")
    parser.add_argument("--platform-secret", help="its signing secret (whsec_…)")
    parser.add_argument("--connect-webhook", help="URL of the Connect webhook endpoint")
    parser.add_argument("--connect-secret", help="its own signing secret")
    args = parser.parse_args()
    endpoints = {}
    for kind in ("platform", "connect"):
        url, secret = getattr(args, f"{kind}_webhook"), getattr(args, f"{kind}_secret")
        if bool(url) != bool(secret):
            parser.error(f"--{kind}-webhook and --{kind}-secret go together")
        endpoints[kind] = WebhookEndpoint(url, secret) if url else None
    fake = FakeStripe(api_key=args.api_key, platform_webhook=endpoints["platform"],
                      connect_webhook=endpoints["connect"])
    print(f"fake Stripe on http://{args.host}:{args.port} (controls under /_fake/)", flush=True)
    web.run_app(create_app(fake), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
