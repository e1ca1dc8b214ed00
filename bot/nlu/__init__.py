"""Natural-language understanding: normalise, tokenise, classify intents, decide what to do."""
