"""Campaigns: what staff send to a segment of patients. Segments, drafts and their
preview, test-send, launch written by the database in chunks, pause, resume, cancel
and progress.

May import: `followup.delivery` and everything below it; not `followup.replies`.
"""
