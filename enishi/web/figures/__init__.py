"""Plotly figure JSON for the report pages ({"data": [...], "layout": {...}}), drawn in the
browser by static/charts.js (docs/web.md §Charts)."""
