"""The webhook-kit pytest plugin (entry point ``webhook_kit``)."""
