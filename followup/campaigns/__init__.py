"""Campaigns: what staff send to a segment of patients. Segments and who can be
reached, names and slugs, drafts with a text per language and their preview, estimates,
test-send, launch written by the database in chunks, pause, resume, cancel, progress
and why messages wait.

May import: `followup.delivery` and everything below it; not `followup.replies`.
"""
