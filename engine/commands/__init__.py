"""The service layer: every command that changes a definition, a case or a user goes through here (convention 1)."""
