"""Zhang et al.'s colorization networks, laid out like the authors' public PyTorch release
(github.com/richzhang/colorization, ``colorizers/eccv16.py`` and ``colorizers/siggraph17.py``), so
their published state dicts load key for key, shape for shape:

* ``eccv16`` — "Colorful Image Colorization" (ECCV 2016): automatic, classification over 313
  a*b* bins. ~32.2M parameters (≈32.2M of them trained; ``model_out`` holds the bin centres).
* ``siggraph17`` — "Real-Time User-Guided Image Colorization" (SIGGRAPH 2017): takes user hints,
  regression output (the released forward). ~34.2M parameters (the unused ``model_class``
  classification branch, 0.14M, is kept for key compatibility and frozen).

Their preprocessing, kept here: L is normalised as (L − 50)/100 and a*b* as a*b*/110; the demo runs
both at 256×256 (the image squashed), hence ``fixed_size = 256``. Weights convert nothing: the
wrappers take tinct's inputs (L* in [0, 100], hints (N, 3, H, W) = a*, b*, 0/1 mask) and convert
inside ``forward``.

Outputs, in tinct's raw-output convention (see ``ColorizationModel``):

* eccv16: the 313 logits at stride 4 (``model8``'s output). ``decode`` takes the annealed mean over
  the model's *own* centres, ``bins`` = ``model_out.weight`` × 110 (their ``pts_in_hull``; not
  ``tinct.color.ab_bins``'s 261 bins). The published decoding is softmax → ``model_out`` (the mean,
  T = 1) → ×110 → ``upsample4``; T = 1 is vividness 0, which is this model's default, so the default
  reproduces it. The ×4 upsampling is left to the caller (``Colorizer`` resizes a*b* to the full
  image in one bilinear step instead of their two: 64→256→full; see :meth:`ECCV16.published_forward`).
* siggraph17: tanh output × 110/128, i.e. a*b*/128 like every tinct regression head (|raw| ≤
  0.86), at the input's resolution. The default vividness 0.5 decodes it as raw × 128 = tanh × 110,
  exactly the released output; the same scaling makes tinct's regression losses apply unchanged.
  Hints go in as their forward takes them: a*b* / 110 and the mask as given (0/1, no centring —
  the released caffe-converted weights use 0/1 masks), all zero without hints.

Module names and order follow the release; the tensor table is pinned in ``tests/test_zhang.py``.
The networks are fully convolutional, so ``forward`` runs at any size that is a multiple of 8
(training may use smaller crops); ``Colorizer`` always runs them at 256×256.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
import torch.nn as nn

from tinct.models._registry import register_model
from tinct.models.base import ColorizationModel, ModelConfig

#: Their normalisation (``BaseColor``): (L − L_CENT) / L_NORM and a*b* / AB_NORM.
L_CENT, L_NORM, AB_NORM = 50.0, 100.0, 110.0
#: SIGGRAPH17's classification branch (unused by its released forward): 23 × 23 a*b* cells.
SIGGRAPH_CLASSES = 529

# ECCV16's 313 bin centres (resources/pts_in_hull.npy), on a 10-unit a*b* grid, in its row order:
# sorted by a*, then b*. For each a* the b* values form one contiguous run, given as (first, last).
_HULL_B_RUNS = {
    -90: (50, 90),
    -80: (20, 90),
    -70: (0, 90),
    -60: (-20, 90),
    -50: (-30, 100),
    -40: (-40, 100),
    -30: (-50, 100),
    -20: (-50, 100),
    -10: (-60, 100),
    0: (-70, 100),
    10: (-80, 90),
    20: (-80, 90),
    30: (-90, 90),
    40: (-100, 90),
    50: (-100, 80),
    60: (-110, 80),
    70: (-110, 80),
    80: (-110, 70),
    90: (-110, 70),
    100: (-90, 0),
}


def pts_in_hull(device=None, dtype=torch.float32) -> torch.Tensor:
    """ECCV16's 313 a*b* bin centres, (313, 2) in a*b* units, in the order of its logits."""
    points = [(a, b) for a, (first, last) in _HULL_B_RUNS.items() for b in range(first, last + 1, 10)]
    return torch.tensor(points, device=device, dtype=dtype)


def _stage(
    c_in: int, c_out: int, convs: int, *, stride: int = 1, dilation: int = 1, lead_relu: bool = False
) -> nn.Sequential:
    """[ReLU,] (3×3 conv, ReLU) × convs, BatchNorm — the release's block layout and indices.
    Only the last conv has ``stride``."""
    layers: list[nn.Module] = [nn.ReLU(True)] if lead_relu else []
    for i in range(convs):
        layers += [
            nn.Conv2d(
                c_in if i == 0 else c_out,
                c_out,
                3,
                stride=stride if i == convs - 1 else 1,
                padding=dilation,
                dilation=dilation,
                bias=True,
            ),
            nn.ReLU(True),
        ]
    layers.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*layers)


class _ZhangModel(ColorizationModel):
    default_size = 256
    fixed_size = 256
    size_multiple = 8

    def check_size(self, height: int, width: int) -> None:
        # Only the multiple of 8 is structural (three ×2 subsamplings, skip connections); 256×256
        # is how Colorizer runs them, as the authors' demo does, but training may use other crops.
        if height % self.size_multiple or width % self.size_multiple:
            raise ValueError(
                f"{self.config.name} needs sizes that are multiples of {self.size_multiple}, got {height}x{width}"
            )

    @staticmethod
    def normalize_l(L: torch.Tensor) -> torch.Tensor:
        return (L - L_CENT) / L_NORM


# --------------------------------------------------------------------------------------------
# ECCV16


@dataclasses.dataclass(frozen=True)
class ECCV16Config(ModelConfig):
    name: str = "eccv16"
    head: ClassVar[str] = "classification"  # over its 313 bins
    #: Vividness 0 = temperature 1 = the published decoding (the mean of the distribution).
    default_vividness: float = 0.0


class ECCV16(_ZhangModel):
    """ECCV 2016 network. ``forward``: (N, 1, H, W) L* → (N, 313, H/4, W/4) logits over
    :attr:`bins` (H, W multiples of 8)."""

    output_stride = 4

    def __init__(self, config: ECCV16Config) -> None:
        super().__init__()
        self.config = config
        self.model1 = _stage(1, 64, 2, stride=2)
        self.model2 = _stage(64, 128, 2, stride=2)
        self.model3 = _stage(128, 256, 3, stride=2)
        self.model4 = _stage(256, 512, 3)
        self.model5 = _stage(512, 512, 3, dilation=2)
        self.model6 = _stage(512, 512, 3, dilation=2)
        self.model7 = _stage(512, 512, 3)
        self.model8 = nn.Sequential(
            nn.ConvTranspose2d(512, 256, 4, stride=2, padding=1, bias=True),
            nn.ReLU(True),
            nn.Conv2d(256, 256, 3, padding=1, bias=True),
            nn.ReLU(True),
            nn.Conv2d(256, 256, 3, padding=1, bias=True),
            nn.ReLU(True),
            nn.Conv2d(256, 313, 1, bias=True),
        )
        self.softmax = nn.Softmax(dim=1)
        # The decoding layer: a 1×1 conv whose weights are the bin centres / 110. It is data, not
        # learned (the loss acts on the logits), so it is frozen; its value comes with the weights.
        self.model_out = nn.Conv2d(313, 2, 1, bias=False)
        with torch.no_grad():
            self.model_out.weight.copy_((pts_in_hull() / AB_NORM).T[:, :, None, None])
        self.model_out.weight.requires_grad_(False)
        self.upsample4 = nn.Upsample(scale_factor=4, mode="bilinear", align_corners=False)

    @property
    def bins(self) -> torch.Tensor:
        """(313, 2) bin centres in a*b* units, read from ``model_out.weight`` (so loaded weights
        bring their own), on the model's device."""
        return self.model_out.weight.detach()[:, :, 0, 0].T * AB_NORM

    def forward(self, L: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 1, H, W) L* in [0, 100] → (N, 313, H/4, W/4) logits (``hints`` is ignored)."""
        self.check_size(L.shape[-2], L.shape[-1])
        x = self.normalize_l(L)
        for stage in (self.model1, self.model2, self.model3, self.model4, self.model5, self.model6, self.model7):
            x = stage(x)
        return self.model8(x)

    def published_forward(self, L: torch.Tensor) -> torch.Tensor:
        """The release's ``ECCVGenerator.forward``: (N, 1, H, W) L* → (N, 2, H, W) a*b* (softmax,
        ``model_out``, ``upsample4``, ×110). Equals ``upsample4(decode(forward(L)))`` at the
        default vividness; kept for comparisons."""
        return self.upsample4(self.model_out(self.softmax(self(L)))) * AB_NORM


@register_model("eccv16")
def eccv16(**overrides) -> ECCV16:
    return ECCV16(ECCV16Config.create(**overrides))


# --------------------------------------------------------------------------------------------
# SIGGRAPH17


@dataclasses.dataclass(frozen=True)
class SIGGRAPH17Config(ModelConfig):
    name: str = "siggraph17"
    hints: ClassVar[bool] = True  # the released forward's output, with hints
    #: Vividness 0.5 decodes raw × 128 = tanh × 110: the published output.
    default_vividness: float = 0.5


class SIGGRAPH17(_ZhangModel):
    """SIGGRAPH 2017 network. ``forward``: (N, 1, H, W) L* and (N, 3, H, W) hints or None →
    (N, 2, H, W) a*b*/128 (H, W multiples of 8)."""

    output_stride = 1

    def __init__(self, config: SIGGRAPH17Config) -> None:
        super().__init__()
        self.config = config
        # Registration order = the release's, so state-dict keys come out in the same order.
        self.model1 = _stage(4, 64, 2)
        self.model2 = _stage(64, 128, 2)
        self.model3 = _stage(128, 256, 3)
        self.model4 = _stage(256, 512, 3)
        self.model5 = _stage(512, 512, 3, dilation=2)
        self.model6 = _stage(512, 512, 3, dilation=2)
        self.model7 = _stage(512, 512, 3)
        self.model8up = nn.Sequential(nn.ConvTranspose2d(512, 256, 4, stride=2, padding=1, bias=True))
        self.model8 = _stage(256, 256, 2, lead_relu=True)
        self.model9up = nn.Sequential(nn.ConvTranspose2d(256, 128, 4, stride=2, padding=1, bias=True))
        self.model9 = _stage(128, 128, 1, lead_relu=True)
        self.model10up = nn.Sequential(nn.ConvTranspose2d(128, 128, 4, stride=2, padding=1, bias=True))
        self.model10 = nn.Sequential(
            nn.ReLU(True), nn.Conv2d(128, 128, 3, padding=1, bias=True), nn.LeakyReLU(negative_slope=0.2)
        )
        self.model3short8 = nn.Sequential(nn.Conv2d(256, 256, 3, padding=1, bias=True))
        self.model2short9 = nn.Sequential(nn.Conv2d(128, 128, 3, padding=1, bias=True))
        self.model1short10 = nn.Sequential(nn.Conv2d(64, 128, 3, padding=1, bias=True))
        # Their classification branch (conv8 → 529 cells) is not used by the released forward; it is
        # kept so their weights load strictly, and frozen so DDP and the optimizer ignore it.
        self.model_class = nn.Sequential(nn.Conv2d(256, SIGGRAPH_CLASSES, 1, bias=True))
        self.model_class.requires_grad_(False)
        self.model_out = nn.Sequential(nn.Conv2d(128, 2, 1, bias=True), nn.Tanh())
        self.upsample4 = nn.Sequential(nn.Upsample(scale_factor=4, mode="bilinear", align_corners=False))
        self.softmax = nn.Sequential(nn.Softmax(dim=1))

    def forward(self, L: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 1, H, W) L* in [0, 100]; hints (N, 3, H, W) = a*, b* (a*b* units), 0/1 mask, or None
        (no hints: all zeros, as in the release) → (N, 2, H, W) a*b*/128, |raw| ≤ 110/128."""
        self.check_size(L.shape[-2], L.shape[-1])
        hints = self.hint_input(L, hints)
        x = torch.cat((self.normalize_l(L), hints[:, :2] / AB_NORM, hints[:, 2:3]), dim=1)
        conv1_2 = self.model1(x)
        conv2_2 = self.model2(conv1_2[:, :, ::2, ::2])
        conv3_3 = self.model3(conv2_2[:, :, ::2, ::2])
        conv4_3 = self.model4(conv3_3[:, :, ::2, ::2])
        conv7_3 = self.model7(self.model6(self.model5(conv4_3)))
        conv8_3 = self.model8(self.model8up(conv7_3) + self.model3short8(conv3_3))
        conv9_3 = self.model9(self.model9up(conv8_3) + self.model2short9(conv2_2))
        conv10_2 = self.model10(self.model10up(conv9_3) + self.model1short10(conv1_2))
        # The release returns model_out(...) × 110 in a*b* units; tinct's raw output is a*b*/128.
        return self.model_out(conv10_2) * (AB_NORM / 128.0)


@register_model("siggraph17")
def siggraph17(**overrides) -> SIGGRAPH17:
    return SIGGRAPH17(SIGGRAPH17Config.create(**overrides))
