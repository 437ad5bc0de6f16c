"""Features built on the commands and reads: pilots, migration of running cases, simulation, the activity catalogue."""
