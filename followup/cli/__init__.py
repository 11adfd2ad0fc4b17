"""The `followup` command line: `main` is the group, each module one group of commands.

May import: every domain package, the runtime wiring (`followup.runtime`, `tasks`,
`worker`) and the shared core; not `followup.web` or `followup.console`.
"""
