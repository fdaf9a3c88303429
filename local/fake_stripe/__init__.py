"""A stateful fake of the Stripe API that Driveway-Hub uses, for the local cloud and integration tests.

The real stripe-python client works against it unchanged::

    fake = FakeStripe(platform_webhook=WebhookEndpoint(url, "whsec_…"), connect_webhook=...)
    base_url, stop = run_in_thread(fake)
    client = stripe.StripeClient("sk_test_…", base_addresses={"api": base_url}, max_network_retries=2)

``create_app(fake)`` gives the aiohttp application to mount in another loop instead. Behaviour follows
``/work/shared/research/stripe.md``; ``python -m local.fake_stripe --help`` runs it on its own.
"""

from .app import create_app
from .errors import StripeApiError
from .faults import FaultRule
from .runner import run_in_thread, serve_in_thread
from .state import FakeStripe
from .webhooks import Chaos, DeliveryAttempt, WebhookEndpoint, signature_header

__all__ = [
    "Chaos",
    "DeliveryAttempt",
    "FakeStripe",
    "FaultRule",
    "StripeApiError",
    "WebhookEndpoint",
    "create_app",
    "run_in_thread",
    "serve_in_thread",
    "signature_header",
]
