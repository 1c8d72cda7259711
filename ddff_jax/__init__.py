"""ddff_jax: deep depth from focus in JAX/Flax."""
__version__ = '0.1.0'
