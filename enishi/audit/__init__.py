"""The audit log: who (an operator, an API key, a CLI user) did what, from where. Below
every domain, so each service records its own audited actions (docs/decisions/0400)."""
