"""The default job: a small DDFFNet-CC3 trained on synthetic light-field focal stacks, minutes on 2 CPU cores.

The scenes lie 0.125-1.75 m from the Lytro ILLUM (disparities 0.081-1.13 px between views, 4x DDFF 12-Scene's
0.5-7 m): at DDFF's range a 32x32 stack holds at most ~2 px of defocus, too little for a network this small to learn
from in minutes (validation MSE only 17 % below a constant). `--config.data.near_m=0.5 --config.data.far_m=7.0`
trains on DDFF's range.
"""
import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.model = ml_collections.ConfigDict(dict(
      name='ddffnet', num_slices=10, upsample='upconv', skips=('cc3',), width=0.125, dropout=0.0,
      bilinear_init=True, normalization='unit',
      dtype='float32', param_dtype='float32'))  # compute / parameter dtype: dtype='bfloat16' is mixed precision
  c.data = ml_collections.ConfigDict(dict(
      source='synthetic_lf', height=32, width=32, num_slices=10, num_objects=2, num_train=1024, num_val=32,
      near_m=0.125, far_m=1.75, crop=(0, 0), flip=True))
  c.train = ml_collections.ConfigDict(dict(
      batch_size=8, num_steps=1000, optimizer='adam', learning_rate=2e-3, momentum=0.9, weight_decay=0.0,
      lr_decay=0.9, lr_decay_epochs=4, grad_clip=5.0,
      init_weights=''))  # a pretrained weights file for a fresh run (models.pretrained.load_weights)
  c.log_every = 10
  c.eval_every = 100
  c.checkpoint_every = 100
  c.keep_checkpoints = 2
  return c
