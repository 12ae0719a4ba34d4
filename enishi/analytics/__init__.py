"""Read-only reports: click recency / frequency analysis and the account overview."""
