"""Refunds (with proportional transfer reversals and fee refunds) and disputes.

Like payments.py, every method runs under the store's lock and validates before changing anything.
"""

from __future__ import annotations

from .errors import StripeApiError, invalid, missing_param, unexpected_state
from .params import Params, merge_metadata
from .store import DAY, PLATFORM, Obj, Store

DISPUTE_FEE = 1500  # Stripe's US dispute fee, debited from the platform with the disputed amount
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


class Refunds:
    def __init__(self, store: Store) -> None:
        self.store = store

    # ---- refunds ------------------------------------------------------------------------------

    def create_refund(self, p: Params) -> Obj:
        p.only("payment_intent", "charge", "amount", "reason", "reverse_transfer", "refund_application_fee",
               "metadata", "instructions_email")
        charge = self._refundable_charge(p)
        refundable = charge["amount"] - charge["amount_refunded"]
        if charge["refunded"] or refundable <= 0:
            raise invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
        amount = p.integer("amount", minimum=1)
        amount = refundable if amount is None else amount
        if amount > refundable:
            raise StripeApiError(
                400, f"Refund amount ({_money(amount, charge)}) is greater than unrefunded amount on charge "
                f"({_money(refundable, charge)})", param="amount", code="amount_too_large",
            )
        reverse_transfer = p.boolean("reverse_transfer")
        refund_fee = p.boolean("refund_application_fee")
        if reverse_transfer and not charge["transfer"]:
            raise invalid("reverse_transfer can only be used with a charge that has a transfer.",
                          param="reverse_transfer")
        if refund_fee and not charge["application_fee"]:
            raise invalid("refund_application_fee can only be used with a charge that has an application fee.",
                          param="refund_application_fee")
        reason = p.choice("reason", REFUND_REASONS)
        metadata = merge_metadata({}, p.metadata(), replace=True)

        currency = charge["currency"]
        refund_id = self.store.new_id("re")
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        # Reversals follow the money actually refunded so far (released, never-captured money excluded).
        refunded_of_captured = charge["amount_captured"] - (charge["amount"] - charge["amount_refunded"])
        reversal_id = None
        if reverse_transfer:
            transfer = self.store.objects[charge["transfer"]]
            reversal = proportional(transfer["amount"], refunded_of_captured, charge["amount_captured"])
            reversal_id = self._reverse_transfer(transfer, reversal - transfer["amount_reversed"], refund_id)
        if refund_fee:
            app_fee = self.store.objects[charge["application_fee"]]
            fee_refund = proportional(app_fee["amount"], refunded_of_captured, charge["amount_captured"])
            self._refund_fee(app_fee, fee_refund - app_fee["amount_refunded"])
        refund: Obj = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": self.store.book(PLATFORM, -amount, currency, "refund", refund_id),
            "charge": charge["id"],
            "created": self.store.timestamp(),
            "currency": currency,
            "destination_details": {"card": {"reference_status": "pending", "type": "refund"}, "type": "card"},
            "metadata": metadata,
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": "succeeded",
            "transfer_reversal": reversal_id,
        }
        self.store.put(refund)
        self.store.emit("refund.created", refund)
        self.store.emit("charge.refunded", charge)
        return refund

    def fail_refund(self, refund_id: str, reason: str = "expired_or_canceled_card") -> Obj:
        """The card network rejected a refund later (closed card…): the money comes back to the platform.

        Transfer reversals and fee refunds stay as they were; like Stripe, undoing them is the platform's call.
        """
        refund = self.store.get(refund_id, "refund")
        if refund["status"] != "succeeded":
            raise invalid(f"Refund {refund_id} has a status of {refund['status']}; only succeeded refunds can fail.")
        charge = self.store.objects[refund["charge"]]
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = False
        refund.update(
            status="failed",
            failure_reason=reason,
            failure_balance_transaction=self.store.book(
                PLATFORM, refund["amount"], refund["currency"], "refund_failure", refund_id
            ),
        )
        self.store.emit("refund.updated", refund, previous={"status": "succeeded"})
        self.store.emit("refund.failed", refund)
        return refund

    def list_refunds(self, p: Params) -> list[Obj]:
        p.only("payment_intent", "charge", "created", "limit", "starting_after", "ending_before")
        pi_id, charge_id = p.string("payment_intent"), p.string("charge")
        return [
            refund for refund in self.store.all("refund")
            if pi_id in (None, refund["payment_intent"]) and charge_id in (None, refund["charge"])
        ]

    # ---- disputes -----------------------------------------------------------------------------

    def open_dispute(self, ref: str, *, reason: str = "fraudulent", amount: int | None = None) -> Obj:
        """The cardholder disputes a captured charge (`ref` = ch_ or pi_): funds and fee leave the platform."""
        charge = self._charge_of(ref)
        disputable = charge["amount"] - charge["amount_refunded"]
        if not charge["captured"] or disputable <= 0:
            raise invalid(f"Charge {charge['id']} has no captured, unrefunded amount to dispute.")
        if charge["disputed"]:
            raise invalid(f"Charge {charge['id']} is already disputed.")
        amount = disputable if amount is None else amount
        if not 0 < amount <= disputable:
            raise invalid(f"Dispute amount must be between 1 and {disputable}.", param="amount")
        now = self.store.timestamp()
        dispute_id = self.store.new_id("dp")
        txn = self.store.book(PLATFORM, -amount, charge["currency"], "adjustment", dispute_id,
                              fee=DISPUTE_FEE, category="dispute")
        dispute: Obj = {
            "id": dispute_id,
            "object": "dispute",
            "amount": amount,
            "balance_transactions": [txn],
            "charge": charge["id"],
            "created": now,
            "currency": charge["currency"],
            "evidence_details": {"due_by": now + 7 * DAY, "has_evidence": False, "past_due": False,
                                 "submission_count": 0},
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": {},
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": "needs_response",
        }
        self.store.put(dispute)
        charge["disputed"] = True
        self.store.emit("charge.dispute.created", dispute)
        return dispute

    def close_dispute(self, dispute_id: str, *, won: bool) -> Obj:
        dispute = self.store.get(dispute_id, "dispute")
        if dispute["status"] in ("won", "lost"):
            raise invalid(f"Dispute {dispute_id} is already closed.")
        if won:
            # A won dispute returns the amount; the dispute fee is not returned.
            dispute["balance_transactions"].append(
                self.store.book(PLATFORM, dispute["amount"], dispute["currency"], "adjustment", dispute_id,
                                category="dispute_reversal")
            )
        dispute["status"] = "won" if won else "lost"
        self.store.emit("charge.dispute.closed", dispute)
        return dispute

    # ---- internals ----------------------------------------------------------------------------

    def _charge_of(self, ref: str) -> Obj:
        if ref.startswith("pi_"):
            pi = self.store.get(ref, "payment_intent")
            if not pi["latest_charge"]:
                raise invalid(f"PaymentIntent {ref} has no charge.")
            return self.store.objects[pi["latest_charge"]]
        return self.store.get(ref, "charge")

    def _refundable_charge(self, p: Params) -> Obj:
        pi_id, charge_id = p.string("payment_intent"), p.string("charge")
        if not pi_id and not charge_id:
            raise missing_param("payment_intent")
        if pi_id:
            pi = self.store.get(pi_id, "payment_intent", param="payment_intent")
            if pi["status"] == "requires_capture":
                raise _uncaptured(pi_id, "payment_intent")
            if pi["status"] != "succeeded":
                raise invalid(f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                              param="payment_intent")
            charge = self.store.objects[pi["latest_charge"]]
            if charge_id and charge_id != charge["id"]:
                raise invalid(f"Charge {charge_id} does not belong to PaymentIntent {pi_id}.", param="charge")
        else:
            assert charge_id is not None
            charge = self.store.get(charge_id, "charge", param="charge")
            if charge["status"] != "succeeded":
                raise invalid(f"Charge {charge_id} has failed; there is nothing to refund.", param="charge")
            if not charge["captured"]:
                raise _uncaptured(charge_id, "charge")
        if charge["disputed"]:
            raise invalid(f"Charge {charge['id']} has been charged back; it cannot be refunded.",
                          code="charge_disputed")
        return charge

    def _reverse_transfer(self, transfer: Obj, amount: int, refund_id: str) -> str | None:
        if amount <= 0:
            return None
        reversal_id = self.store.new_id("trr")
        currency = transfer["currency"]
        reversal: Obj = {
            "id": reversal_id,
            "object": "transfer_reversal",
            "amount": amount,
            "balance_transaction": self.store.book(PLATFORM, amount, currency, "transfer_refund", reversal_id),
            "created": self.store.timestamp(),
            "currency": currency,
            "destination_payment_refund": None,
            "metadata": {},
            "source_refund": refund_id,
            "transfer": transfer["id"],
        }
        self.store.book(transfer["destination"], -amount, currency, "payment_refund", reversal_id)
        self.store.put(reversal)
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        transfer["reversals"]["data"].insert(0, reversal)
        transfer["reversals"]["total_count"] += 1
        return reversal_id

    def _refund_fee(self, app_fee: Obj, amount: int) -> None:
        if amount <= 0:
            return
        fee_refund_id = self.store.new_id("fr")
        currency = app_fee["currency"]
        fee_refund: Obj = {
            "id": fee_refund_id,
            "object": "fee_refund",
            "amount": amount,
            "balance_transaction": self.store.book(
                PLATFORM, -amount, currency, "application_fee_refund", fee_refund_id
            ),
            "created": self.store.timestamp(),
            "currency": currency,
            "fee": app_fee["id"],
            "metadata": {},
        }
        self.store.book(app_fee["account"], amount, currency, "application_fee_refund", fee_refund_id)
        self.store.put(fee_refund)
        app_fee["amount_refunded"] += amount
        app_fee["refunded"] = app_fee["amount_refunded"] == app_fee["amount"]
        app_fee["refunds"]["data"].insert(0, fee_refund)
        app_fee["refunds"]["total_count"] += 1


def proportional(total: int, part: int, whole: int) -> int:
    """`total * part / whole` rounded half up, in integers (never floats for money)."""
    return (2 * total * part + whole) // (2 * whole) if whole else 0


def _uncaptured(object_id: str, param: str) -> StripeApiError:
    return unexpected_state(
        f"{object_id} has not been captured, so there is nothing to refund. Cancel the PaymentIntent to "
        "release the authorization instead.", param=param,
    )


def _money(amount: int, charge: Obj) -> str:
    return f"{amount} {charge['currency']}"
