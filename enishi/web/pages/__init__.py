"""Page modules, one per area of the dashboard (docs/web.md)."""
