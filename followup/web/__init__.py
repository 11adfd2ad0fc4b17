"""The HTTP side: Twilio webhooks and the pages behind links in emails.

It records and queues; no provider call happens inside a request.
"""
