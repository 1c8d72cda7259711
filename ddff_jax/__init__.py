"""ddff_jax: deep depth from focus in JAX/Flax."""
__version__ = '0.1.0'

# Registers the `ddff12scene` TFDS builder (tfds.builder / data_source / load find it after `import ddff_jax`).
from ddff_jax import ddff12scene as _ddff12scene  # noqa: E402,F401
