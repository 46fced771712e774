"""The ops-repo contract: safe loading, the document kinds, and site discovery (pure)."""
