"""Operators: the people who log in to the dashboard, their roles, sessions and audit log."""
