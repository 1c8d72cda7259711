"""ml_collections experiment configs: each module defines get_config()."""
