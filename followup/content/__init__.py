"""Content: what messages say. Jinja2 environments and rendering, staff-written
campaign text in a bounded sandbox, translations, reading levels, SMS encoding,
minimum-necessary word lists and the signed links messages carry.

May import: `followup.care` (patients' languages, plan steps) and the shared core.
"""
