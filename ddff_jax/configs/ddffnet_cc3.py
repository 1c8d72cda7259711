"""DDFFNet-CC3 with UpConv on DDFF 12-Scene, the paper's hyper-parameters (Hazirbas et al., ACCV 2018):
SGD momentum 0.9, lr 1e-3 decayed ×0.9 every 4 epochs, batch 2 stacks, L2 weight decay 5e-4, gradient-norm clip 5,
224×224 patches of 10-slice stacks, raw 0–255 input (as the released model)."""
import ml_collections

from ddff_jax.configs import default


def get_config():
  c = default.get_config()
  c.model.update(width=1.0, dropout=0.5, normalization='raw255')
  c.data = ml_collections.ConfigDict(dict(
      source='ddff12scene', builder_config='h5', data_dir='', manual_dir='', num_slices=10, crop=(0, 0),
      flip=True))
  c.train.update(batch_size=2, num_steps=100_000, optimizer='sgd', learning_rate=1e-3, weight_decay=5e-4,
                 lr_decay=0.9, lr_decay_epochs=4, grad_clip=5.0)
  c.log_every = 50
  c.eval_every = 2000
  c.checkpoint_every = 2000
  return c
