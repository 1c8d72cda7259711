"""The `ddff12scene` TFDS builder (installed as `ddff_jax.ddff12scene`; importing `ddff_jax` registers it)."""
from ddff_jax.ddff12scene.ddff12scene_dataset_builder import Builder
