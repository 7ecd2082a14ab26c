"""The HTTP surface (FastAPI): webhooks, health, metrics; the management API grows here."""
