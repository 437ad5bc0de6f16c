"""The service layer: every command that changes a definition, a case or a user goes through here (convention 1).

`runtime.Runtime` is the facade the web layer, the CLI and the scheduler call for cases and definitions; the commands
live by aggregate (definitions, instances, tasks, messages, timers, repairs, migration) and share one path that
advances a workflow (`core.Core.advance`: unit of work, per-instance lock, engine step, the projectors of
`projectors.py`, one commit). `recording.py` says what a step records, a pure function the simulator shares;
`context.py` holds the typed contexts passed between them. Accounts, drafts and sessions are commands of their own.
"""
