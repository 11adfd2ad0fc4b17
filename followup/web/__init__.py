"""The HTTP side: Twilio webhooks and the pages behind links in emails.

It records and queues; no provider call happens inside a request. The app mounts the
staff console (`followup.console`).

May import: every domain package, the console, the runtime wiring and the shared core;
not `followup.cli`.
"""
