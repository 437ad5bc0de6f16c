"""Samflöde's platform core. Knows nothing of Flask; the web layer calls `engine.commands.runtime`."""
