"""The default job: a small DDFFNet-CC3 trained on synthetic light-field focal stacks, minutes on 2 CPU cores."""
import ml_collections


def get_config():
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.model = ml_collections.ConfigDict(dict(
      name='ddffnet', num_slices=10, upsample='upconv', skips=('cc3',), width=0.125, dropout=0.0,
      bilinear_init=True, normalization='unit'))
  c.data = ml_collections.ConfigDict(dict(
      source='synthetic_lf', height=32, width=32, num_slices=10, num_objects=2, num_train=256, num_val=32,
      crop=(0, 0), flip=True))
  c.train = ml_collections.ConfigDict(dict(
      batch_size=8, num_steps=800, optimizer='adam', learning_rate=2e-3, momentum=0.9, weight_decay=0.0,
      lr_decay=0.9, lr_decay_epochs=4, grad_clip=5.0,
      init_weights=''))  # a pretrained weights file for a fresh run (models.pretrained.load_weights)
  c.log_every = 10
  c.eval_every = 100
  c.checkpoint_every = 100
  c.keep_checkpoints = 2
  return c
