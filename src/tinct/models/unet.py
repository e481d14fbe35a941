"""The default model: an ImageNet-pretrained EfficientNet-Lite encoder (Lite0, 1 or 2) fed the
grayscale image, and a light U-Net decoder with skip connections from five encoder stages
(strides 2 to 32).

Two heads: regression of a*b* (tanh, a*b*/128) or classification over the in-gamut a*b* bins
(decoded by the annealed mean). Optional user hints (a*, b*, mask) enter through a zero-initialised
convolution beside the stem, so a model trained without hints is unchanged by the extra branch.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn
import torch.nn.functional as F

from tinct.color.ab_bins import ab_bins, num_bins
from tinct.models._efficientnet import (
    INPUT_MEAN,
    INPUT_STD,
    STEM_CHANNELS,
    VARIANTS,
    EfficientNetLite,
    _SamePadConv2d,
    pretrained_state_dict,
    stride_outputs,
)
from tinct.models._registry import register_model
from tinct.models.base import ColorizationModel, ModelConfig
from tinct.models.scene import SceneChroma
from tinct.ops.hints import pool_hints

#: Widest decoder stage accepted (the default widths are 128..48).
MAX_DECODER_CHANNELS = 1024


@dataclasses.dataclass(frozen=True)
class UNetConfig(ModelConfig):
    name: str = "unet"
    head: str = "classification"
    hints: bool = False
    #: The ImageNet encoder: "lite0" (the first defaults), "lite1" or "lite2" (wider and deeper).
    encoder: str = "lite0"
    #: Decoder widths at strides 16, 8, 4, 2.
    decoder_channels: tuple[int, ...] = (128, 96, 64, 48)
    #: The head runs at this stride of the input (2 or 4); its output is upsampled afterwards.
    output_stride: int = 2
    #: Initialise the encoder from ImageNet weights (needs the `train` extra) when created.
    pretrained: bool = False
    #: Where hints enter: "stem" (beside the encoder's first convolution only), "multiscale"
    #: (also added to the decoder's output at every scale, pooled so a one-pixel hint survives), or
    #: "decoder" (at every decoder scale only: the encoder then sees only L*, so a frozen encoder
    #: needs no backward pass in training and the scene gain does not depend on the hints).
    hint_injection: str = "stem"
    #: Scale each photo's a*b* by its estimated scene chroma (tinct.models.scene), at inference
    #: only. Set by scripts/fit_scene_chroma.py on a regression model with a frozen ImageNet encoder.
    scene_chroma: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        # Configs also come from weights-file metadata: check types and bounds before any layer
        # is built, so a bad or hostile file cannot ask for a huge allocation.
        if isinstance(self.decoder_channels, (str, bytes)) or not hasattr(self.decoder_channels, "__iter__"):
            raise ValueError(f"decoder_channels must be a list of 4 integers, got {self.decoder_channels!r}")
        object.__setattr__(self, "decoder_channels", tuple(self.decoder_channels))
        widths = self.decoder_channels
        if len(widths) != 4 or any(isinstance(c, bool) or not isinstance(c, int) for c in widths):
            raise ValueError(f"decoder_channels must be 4 integers, got {widths}")
        if not all(1 <= c <= MAX_DECODER_CHANNELS for c in widths):
            raise ValueError(f"decoder_channels must each be in 1..{MAX_DECODER_CHANNELS}, got {widths}")
        for flag in ("hints", "pretrained", "scene_chroma"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be true or false, got {getattr(self, flag)!r}")
        if self.encoder not in VARIANTS:
            raise ValueError(f"encoder must be one of {', '.join(VARIANTS)}, got {self.encoder!r}")
        if self.output_stride not in (2, 4):
            raise ValueError(f"output_stride must be 2 or 4, got {self.output_stride}")
        if self.hint_injection not in ("stem", "multiscale", "decoder"):
            raise ValueError(f"hint_injection must be 'stem', 'multiscale' or 'decoder', got {self.hint_injection!r}")
        if self.scene_chroma and self.head != "regression":
            raise ValueError("scene_chroma applies to the regression head only")


class _UpBlock(nn.Module):
    """×2 bilinear upsampling, concatenation with the skip, two 3×3 conv-BN-ReLU."""

    def __init__(self, c_in: int, c_skip: int, c_out: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in + c_skip, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        # The skip is exactly twice the size of x (the encoder's 'SAME' padding on sides that are
        # multiples of 32, the only ones the unet accepts). A ×2 scale factor is the same resize as
        # size=skip.shape, and stays dynamic in a traced (ONNX) graph, where a size would not.
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.body(torch.cat((x, skip), dim=1))


def _zero_conv1x1(c_in: int, c_out: int) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class UNetColorizer(ColorizationModel):
    default_size = 256
    size_multiple = 32
    encoder_name = "encoder"  # the ImageNet EfficientNet-Lite trunk
    hint_prefixes = ("hint_stem.", "hint_adapters.")

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        self.output_stride = config.output_stride
        self.encoder = EfficientNetLite(config.encoder)
        #: Encoder block after which each skip is taken (strides 2..32), and its channels.
        self.skip_blocks, skip_channels = stride_outputs(config.encoder)
        del self.encoder._conv_head, self.encoder._bn1, self.encoder._fc  # classifier head unused
        if config.hints and config.hint_injection != "decoder":
            self.hint_stem = _SamePadConv2d(3, STEM_CHANNELS, 3, stride=2)
            nn.init.zeros_(self.hint_stem.weight)
            nn.init.zeros_(self.hint_stem.bias)
        dec = config.decoder_channels
        n_up = 4 if config.output_stride == 2 else 3
        c_in = skip_channels[-1]
        ups = []
        for i in range(n_up):
            ups.append(_UpBlock(c_in, skip_channels[-2 - i], dec[i]))
            c_in = dec[i]
        self.decoder = nn.ModuleList(ups)
        if config.hints and config.hint_injection in ("multiscale", "decoder"):
            # Zero-initialised, so a model fine-tuned from a stem-only checkpoint starts unchanged.
            self.hint_adapters = nn.ModuleList(_zero_conv1x1(3, dec[i]) for i in range(n_up))
        if config.head == "classification":
            self.head = nn.Conv2d(c_in, num_bins(), 1)
            self.register_buffer("bins", ab_bins(), persistent=False)
        else:
            self.head = nn.Sequential(nn.Conv2d(c_in, c_in, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(c_in, 2, 1))
        self.scene_chroma = SceneChroma(skip_channels[-1]) if config.scene_chroma else None
        if config.pretrained:
            self.load_pretrained_encoder()

    def load_pretrained_encoder(self) -> None:
        """Copy the ImageNet EfficientNet-Lite weights into the encoder (classifier head dropped)."""
        head = ("_conv_head", "_bn1", "_fc")
        state = {k: v for k, v in pretrained_state_dict(self.config.encoder).items() if not k.startswith(head)}
        self.encoder.load_state_dict(state, strict=True)

    def attach_scene_chroma(self, scene: SceneChroma) -> None:
        """Give this regression model a fitted per-photo chroma gain (`tinct.models.scene.fit_scene_chroma`);
        it is saved with the weights from then on."""
        self.config = dataclasses.replace(self.config, scene_chroma=True)  # validates the head
        self.scene_chroma = scene

    def _encode(self, L: torch.Tensor, hints: torch.Tensor | None) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """(N, 1, H, W) L* → the skip features at strides 2..32 and the (N, 3, H, W) scaled hint
        a*b* + mask (None for a model without a hint input; all zero for "no hints", see
        `ColorizationModel.hint_input`)."""
        self.check_size(L.shape[-2], L.shape[-1])
        # The encoder saw RGB normalised as (x − mean)/std; a gray image has R = G = B ≈ L*/100.
        x = ((L / 100.0 - INPUT_MEAN) / INPUT_STD).expand(-1, 3, -1, -1)
        enc = self.encoder
        x = F.relu6(enc._bn0(enc._conv_stem(x)))
        hints = self.hint_input(L, hints)
        ab_mask = None
        if hints is not None:
            ab_mask = torch.cat((hints[:, :2] / 128.0, hints[:, 2:3]), dim=1)
            if hasattr(self, "hint_stem"):
                x = x + self.hint_stem(ab_mask)
        skips = []
        for i, block in enumerate(enc._blocks):
            x = block(x)
            if i in self.skip_blocks:
                skips.append(x)
        return skips, ab_mask

    def deepest_features(self, L: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 1, H, W) L* → (N, C, H/32, W/32) encoder features (C = 320 for Lite0), what `SceneChroma` reads;
        ``hints=None`` means no hints, as in `forward`."""
        return self._encode(L, hints)[0][-1]

    def forward(self, L: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 1, H, W) L* in [0, 100], H and W multiples of 32 → raw head output at stride
        `output_stride` (see ColorizationModel); with `scene_chroma`, in eval mode, the regression
        output is scaled per photo by its estimated scene chroma (so it may leave [-1, 1])."""
        skips, ab_mask = self._encode(L, hints)
        x = skips[-1]
        adapters = getattr(self, "hint_adapters", None)
        for i, (up, skip) in enumerate(zip(self.decoder, reversed(skips[:-1]), strict=False)):
            x = up(x, skip)
            if adapters is not None and ab_mask is not None:
                x = x + adapters[i](pool_hints(ab_mask, x.shape[-2:]))
        out = self.head(x)
        if self.config.head == "classification":
            return out
        out = torch.tanh(out)
        if self.scene_chroma is not None and not self.training:
            out = out * self.scene_chroma(skips[-1])
        return out


@register_model("unet")
def unet(**overrides) -> UNetColorizer:
    return UNetColorizer(UNetConfig.create(**overrides))
