"""Model registry, cache and metadata sidecars."""
