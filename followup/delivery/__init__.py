"""Delivery: the outbox. Claiming due rows, composing and checking each message
(consent, quiet hours, frequency caps, repeats), sending through the channels under
a lease and a rate limit, recording outcomes and receipts, reconciling what may have
been sent, and the delivery health report.

May import: `followup.content`, `followup.staff`, `followup.care` and the shared core.
"""
