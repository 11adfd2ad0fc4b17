"""Lists staff take away as CSV (patients, replies, alerts, a campaign's results, the
audit log): the console's export links and `followup export` write them the same way.

May import: the domains and the shared core; not the interfaces or the runtime wiring.
"""
