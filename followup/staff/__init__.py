"""Staff: members, roles, password and second-factor accounts, API tokens, the one
access policy of the console and the API, and the audit log.

May import: `followup.care` (to read a member's phone and email) and the shared core.
"""
