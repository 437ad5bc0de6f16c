"""Plain data and rules of the domain: no Flask, no SQLAlchemy, no SpiffWorkflow."""
