"""DDFFNet-CC3 written plainly in PyTorch, as the benchmark's contender (not part of the library).

The paper's layers (Hazirbas et al., ACCV 2018), as `ddff_jax.models.ddffnet` builds them at full width: VGG-16
encoder (3×3 convs without bias + BatchNorm + ReLU, 2×2 max-pools, dropout after pools 3-5), decoder of 4×4 stride-2
transposed convolutions (no bias) each followed by 3×3 conv + BN + ReLU stages (dropout after stages 5-3), the
encoder's block-3 output concatenated after decoder stage 3's upsampling (CC3), weights shared over the slices, and
a 1×1 convolution over the slices (no bias). NCHW, PyTorch's default layout.
"""
import torch
from torch import nn

from ddff_jax.models.ddffnet import DECODER, ENCODER


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
  return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01),
                       nn.ReLU(inplace=True))


class DDFFNetCC3(nn.Module):

  def __init__(self, num_slices: int = 10, dropout: float = 0.5):
    super().__init__()
    self.encoder = nn.ModuleList()
    cin = 3
    for block in ENCODER:
      layers = []
      for cout in block:
        layers.append(_conv_bn_relu(cin, cout))
        cin = cout
      self.encoder.append(nn.Sequential(*layers))
    self.upconvs, self.decoder = nn.ModuleList(), nn.ModuleList()
    for stage, (stage_in, outs, _) in zip((5, 4, 3, 2, 1), DECODER):
      self.upconvs.append(nn.ConvTranspose2d(stage_in, stage_in, 4, stride=2, padding=1, bias=False))
      cin = stage_in + (ENCODER[2][-1] if stage == 3 else 0)
      layers = []
      for cout in outs:
        layers.append(_conv_bn_relu(cin, cout))
        cin = cout
      self.decoder.append(nn.Sequential(*layers))
    self.pool = nn.MaxPool2d(2)
    self.dropout = nn.Dropout(dropout)
    self.scorer = nn.Conv2d(num_slices, 1, 1, bias=False)

  def forward(self, stack: torch.Tensor) -> torch.Tensor:
    """stack (B, S, 3, H, W), H and W multiples of 32, in the model's input space -> disparity (B, H, W)."""
    b, s = stack.shape[:2]
    x = stack.flatten(0, 1)
    features = []
    for k, block in enumerate(self.encoder, start=1):
      x = block(x)
      features.append(x)
      x = self.pool(x)
      if k >= 3:
        x = self.dropout(x)
    for i, (stage, (_, _, drop)) in enumerate(zip((5, 4, 3, 2, 1), DECODER)):
      x = self.upconvs[i](x)
      if stage == 3:
        x = torch.cat([x, features[2]], dim=1)
      x = self.decoder[i](x)
      if drop:
        x = self.dropout(x)
    maps = x.reshape(b, s, *x.shape[2:])
    return self.scorer(maps)[:, 0]


def parameter_count(model: nn.Module) -> int:
  return sum(p.numel() for p in model.parameters())
