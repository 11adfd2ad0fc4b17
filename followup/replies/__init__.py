"""Replies: what comes back. Reading and triaging a reply, storing inbound texts and
one-tap answers once, pain trends, alerts to on-call staff and their escalation, the
call-back promise, and conversations with staff answers.

May import: `followup.delivery` and everything below it; not `followup.campaigns`.
"""
