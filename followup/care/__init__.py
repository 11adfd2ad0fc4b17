"""Care: patients and their consent, visits grouped into episodes of care, the
follow-up plans a visit enrols into, series pauses, clinic hours and CSV imports.

May import: the shared core only (`config`, `db`, `models`, `exceptions`, `plain_text`,
`schedule`, `sql_time`).
"""
