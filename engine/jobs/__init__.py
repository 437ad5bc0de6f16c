"""Work outside a request: the scheduler loop and its heartbeat, cross-process wake-up, notifications and mail."""
