"""DDFFNet on DDFF 12-Scene with the paper's hyper-parameters (Hazirbas et al., ACCV 2018): SGD momentum 0.9, lr 1e-3
decayed ×0.9 every 4 epochs, batch 2 stacks, L2 weight decay 5e-4, gradient-norm clip 5, 224×224 patches of 10-slice
stacks, raw 0–255 input (as the released model).

  --config=ddff_jax/configs/ddffnet.py              CC3 with UpConv, the paper's best model (the released one)
  --config=ddff_jax/configs/ddffnet.py:cc1-unpool   any variant of the paper's ablation, '<skip>-<upsampling>':
                                                    skip cc1 | cc2 | cc3 | none, upsampling upconv | unpool | bilinear
  --config.model.dtype=bfloat16                     mixed precision: bfloat16 compute, float32 parameters and
                                                    BatchNorm statistics (the loss and metrics stay float32)
"""
import ml_collections

from ddff_jax import errors
from ddff_jax.configs import default

SKIPS = ('cc1', 'cc2', 'cc3', 'none')
UPSAMPLING = ('upconv', 'unpool', 'bilinear')


def parse_variant(variant: str) -> tuple[tuple[str, ...], str]:
  """'cc3-upconv' -> (('cc3',), 'upconv'); 'none-bilinear' -> ((), 'bilinear')."""
  skip, _, upsample = variant.lower().partition('-')
  if skip not in SKIPS or upsample not in UPSAMPLING:
    raise errors.UserError(f"DDFFNet variant {variant!r}: expected '<skip>-<upsampling>' with skip one of {SKIPS} and "
                           f"upsampling one of {UPSAMPLING}, e.g. 'cc3-upconv'.")
  return (() if skip == 'none' else (skip,)), upsample


def get_config(variant: str | None = None):
  skips, upsample = parse_variant(variant or 'cc3-upconv')
  c = default.get_config()
  c.model.update(width=1.0, dropout=0.5, normalization='raw255', skips=skips, upsample=upsample)
  c.data = ml_collections.ConfigDict(dict(
      source='ddff12scene', builder_config='h5', data_dir='', manual_dir='', num_slices=10, crop=(0, 0),
      flip=True))
  c.train.update(batch_size=2, num_steps=100_000, optimizer='sgd', learning_rate=1e-3, weight_decay=5e-4,
                 lr_decay=0.9, lr_decay_epochs=4, grad_clip=5.0)
  c.log_every = 50
  c.eval_every = 2000
  c.checkpoint_every = 2000
  return c
