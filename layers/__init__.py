"""Plan layers: one module per layer, each exposing ``LAYER`` (metadata) and ``build(ctx)``."""
