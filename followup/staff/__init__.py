"""Staff: members, roles, password and second-factor accounts, API tokens.

May import: the shared core only.
"""
