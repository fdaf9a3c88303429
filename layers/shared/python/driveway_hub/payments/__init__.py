"""Payments: Stripe PaymentIntents for bookings (destination charges to the host's Connect account),
signed webhooks that drive the booking lifecycle, payment records, host payouts and the reconciler.

Layout: ``ports`` (what domain code depends on), ``stripe_adapter`` (the only module that talks to
Stripe), ``events`` (webhook effects), ``webhooks`` (verification and de-duplication), ``payouts``
(Connect onboarding), ``reconciler`` (mends disagreements), ``runtime`` (wiring from settings).
See docs/payments.md.
"""
