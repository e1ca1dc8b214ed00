"""kefu-bot core: settings, the Message model, the pipeline, NLU, dialogue state, Redis, the ASGI app."""
