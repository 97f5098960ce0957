"""One router per resource: health, collect, webhooks, runs, admin (keys, settings, audit)."""
