"""The REST API under /api/v1/: another edge like studio/views, calling the same access checks,
services and selectors (DESIGN.md, "API and webhooks")."""
