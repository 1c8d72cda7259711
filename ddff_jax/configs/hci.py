"""DDFFNet for real light fields: trained on natural-texture light fields rendered at HCI geometry plus real HCI
scenes, validated on a real scene, on 2 CPU cores in well under 90 minutes.

Stacks as the DDFF supplement builds them from HCI light fields: 9×9 views refocused to 10 slices over −2.5 … 2.5
px. The synthetic scenes span disparities −3.5 … 3.0 px, covering the shared scenes' ground truth (backgammon
−1.55 … 0.53, antinous −3.13 … 2.69: beyond the stack on both sides), with textures cut from the RGB-D photographs
and scikit-image's sample images (never from an HCI scene), rich in focus cues (5 % flat layers, contrast
0.6–1.4, textures shown at 1–2.5 texture px per image px: a weaker-textured mix taught the network to answer the
mean, docs/real_light_fields.md). Training crops are 96×96 (the whole synthetic render: context for plain regions)
with the eight rotations and mirrorings; evaluation is on whole 512×512 images.

The scorer is not the paper's 1×1 convolution but a soft argmax over the slices' focus disparities, read three ways
(`ddff_jax/models/ddffnet.py`): the full expectation, the local one over the most likely hypothesis and the two on
each side (`model.local_radius=2`), and the prediction, which is the local one where its window holds ≥ 80 % of
the probability or the mode is at an end of the hypotheses or next to it (`model.local_mass`), else the full one;
two end hypotheses one focus step beyond the stack (`model.end_hypotheses`) let it answer −3.06 … 3.06 px. Each
step moved the leave-one-out figures (docs/real_light_fields.md): the linear scorer's backgammon / antinous MSE
0.315 / 3.93 px², the soft argmax's 0.278 / 1.89, the ± 1 window's 0.215 / 0.453, this one's in the docs' first
table. `--config.model.scorer=linear|softargmax` (with `end_hypotheses=False local_mass=0 local_radius=1`) trains
the earlier ones.

    python -m ddff_jax.train --config=ddff_jax/configs/hci.py --workdir=runs/hci_all
    python -m ddff_jax.train --config=ddff_jax/configs/hci.py --config.data.held_out=stratified/backgammon ...

`data.held_out` names the real scene(s) left out of training and used as validation (leave-one-out); empty, all
real scenes train and validate. The shared data folder is `$DDFF_SHARED_DATA`, else `../shared/data` (run from the
repository root). The paper's variants: `--config=ddff_jax/configs/hci.py:cc1-unpool` ('<skip>-<upsampling>',
as `configs/ddffnet.py`).
"""
import os

import ml_collections

from ddff_jax.configs.ddffnet import parse_variant


def get_config(variant: str | None = None):
  skips, upsample = parse_variant(variant or 'cc3-upconv')
  shared = os.environ.get('DDFF_SHARED_DATA', os.path.join('..', 'shared', 'data'))
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.model = ml_collections.ConfigDict(dict(
      name='ddffnet', num_slices=10, upsample=upsample, skips=skips, width=0.125, dropout=0.0,
      bilinear_init=True, normalization='unit', scorer='local_softargmax', end_hypotheses=True, local_mass=0.8,
      local_radius=2,
      dtype='float32', param_dtype='float32'))  # compute / parameter dtype: dtype='bfloat16' is mixed precision
  c.data = ml_collections.ConfigDict(dict(
      source='hci_mix', num_slices=10, focus_range=(-2.5, 2.5),
      hci_root=os.path.join(shared, 'hci'), scenes=('stratified/backgammon', 'additional/antinous'), held_out='',
      real_repeats=150,  # each real scene's share of an epoch (random crops): 1/4 of the examples with two scenes
      rgbd_root=os.path.join(shared, 'rgbd'), skimage_textures=(
          'astronaut', 'camera', 'coffee', 'chelsea', 'rocket', 'coins', 'moon', 'brick', 'grass', 'gravel',
          'immunohistochemistry', 'hubble_deep_field', 'cell', 'text', 'page'),
      num_textures=96, num_synthetic=900, render_size=96, num_layers=6, disparity_range=(-3.5, 3.0),
      max_noise=0.02, textureless_prob=0.05, contrast_range=(0.6, 1.4), texture_scale_range=(1.0, 2.5),
      cache_dir=os.path.join('runs', 'cache'),
      crop=(96, 96), flip=True, transpose=True))
  c.train = ml_collections.ConfigDict(dict(
      batch_size=4, num_steps=1800, optimizer='adam', learning_rate=1e-3, schedule='cosine', momentum=0.9,
      weight_decay=0.0, lr_decay=0.5, lr_decay_epochs=4, grad_clip=5.0, init_weights='',
      loss='mse',  # 'mse' (the paper's) or 'l1' (losses.POINTWISE)
      ema_decay=0.0))  # > 0: validate, checkpoint and ship an exponential moving average of the weights
  c.log_every = 20
  c.eval_every = 200
  c.checkpoint_every = 100
  c.keep_checkpoints = 2
  return c
