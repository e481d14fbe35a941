"""DDColor (Kang et al., "DDColor: Towards Photo-Realistic Image Colorization via Dual
Decoders", ICCV 2023), laid out like the authors' published checkpoints (github.com/piddnad/DDColor,
Apache-2.0: ``ddcolor_paper``, ``ddcolor_modelscope``, ``ddcolor_artistic`` with a ConvNeXt-L
encoder, ``ddcolor_paper_tiny`` with ConvNeXt-T), so those files load key for key, shape for shape.
Written for tinct from the paper and the authors' code; no code of theirs is copied.

The network, for an H×W input (H, W multiples of 32):

* encoder: ConvNeXt (``tinct.models._convnext``) on the gray image as RGB, ImageNet-normalised;
  four LayerNorm-ed feature maps at strides 4, 8, 16, 32.
* pixel decoder: three U-Net blocks (pixel shuffle ×2 with a blur, skip features through a
  BatchNorm, 3×3 conv) to strides 16, 8, 4 (512, 512, 256 channels), then a pixel shuffle ×4 to
  full resolution (256 channels). Every convolution is spectrally normalised.
* color decoder: 100 learned queries refined by 9 transformer layers (cross-attention to the
  stride 16, 8, 4 maps in turn, self-attention, FFN; post-norm), turned into 100 color embeddings
  whose dot products with the full-resolution features give 100 maps.
* fusion: a spectrally normalised 1×1 conv of those 100 maps plus the normalised input → a*b*.
  Being linear, it is folded into the maps here (see ``DDColor.forward_ab``): same function,
  computed in an order that never makes the 100 full-size maps.

Spectral normalisation is evaluated as ``torch.nn.utils.spectral_norm`` does in eval mode: the
stored ``weight_u`` and ``weight_v`` are used as they are (no power iteration), the kernel is
``weight_orig / (u · W v)`` with W = ``weight_orig`` flattened to (out, in·k·k).

tinct's conventions (``ColorizationModel``): the input is L* in [0, 100], turned into the gray
sRGB image Lab(L*, 0, 0) → RGB inside ``forward``, as the authors' pipeline does before the
model; the raw output is a*b* / 128 (a regression head; |raw| is not bounded). Vividness v scales
the chroma by 0.5 + v, so the default 0.5 gives the model's own a*b*. DDColor takes no hints;
``propagates_hints`` tells the Colorizer to apply a user's hints to its prediction with tinct's
hint propagation.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from tinct.color.lab import lab_to_rgb
from tinct.models._convnext import CONVNEXT_SIZES, ConvNeXt
from tinct.models._registry import register_model
from tinct.models.base import ColorizationModel, ModelConfig

#: The authors' published checkpoints (download them yourself; tinct downloads nothing), by name:
#: (encoder, where to get it). Each is a ``.pth`` holding ``{'params': state_dict}``.
PUBLISHED = {
    "ddcolor_paper": ("convnext-l", "https://huggingface.co/piddnad/ddcolor_paper"),
    "ddcolor_modelscope": ("convnext-l", "https://huggingface.co/piddnad/ddcolor_modelscope"),
    "ddcolor_artistic": ("convnext-l", "https://huggingface.co/piddnad/ddcolor_artistic"),
    "ddcolor_paper_tiny": ("convnext-t", "https://huggingface.co/piddnad/ddcolor_paper_tiny"),
}

#: ImageNet mean and std of the encoder's input (stored in the published files as ``mean``/``std``).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The pixel decoder's width (``nf`` in the release) and the color decoder's.
DECODER_WIDTH = 512
HIDDEN = 256
HEADS = 8
FFN_WIDTH = 2048
NUM_SCALES = 3


# --------------------------------------------------------------------------------------------
# Spectrally normalised convolution, evaluated from the stored weight_orig / weight_u / weight_v


class SpectralConv2d(nn.Module):
    """A conv whose kernel is ``weight_orig / sigma``, sigma = ``weight_u · (W weight_v)``.

    State dict: ``weight_orig`` (out, in, k, k), ``bias`` (out,) if any, buffers ``weight_u``
    (out,) and ``weight_v`` (in·k·k,), the names ``torch.nn.utils.spectral_norm`` gives them. u and v
    are never updated here (eval-mode semantics): a fresh module gets them from a power iteration at
    construction, loaded weights bring their own.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool) -> None:
        super().__init__()
        self.padding = (kernel_size - 1) // 2
        weight = torch.empty(out_channels, in_channels, kernel_size, kernel_size)
        nn.init.kaiming_normal_(weight)
        self.weight_orig = nn.Parameter(weight)
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        u, v = _power_iteration(weight.reshape(out_channels, -1))
        self.register_buffer("weight_u", u)
        self.register_buffer("weight_v", v)

    def weight(self) -> torch.Tensor:
        w = self.weight_orig
        sigma = torch.dot(self.weight_u, torch.mv(w.reshape(w.shape[0], -1), self.weight_v))
        return w / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding)


def _power_iteration(matrix: torch.Tensor, steps: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit vectors u (rows,) and v (cols,) with u · (M v) ≈ the largest singular value of M."""
    g = torch.Generator().manual_seed(0)
    v = F.normalize(torch.randn(matrix.shape[1], generator=g), dim=0)
    u = F.normalize(torch.mv(matrix, v), dim=0)
    for _ in range(steps):
        v = F.normalize(torch.mv(matrix.T, u), dim=0)
        u = F.normalize(torch.mv(matrix, v), dim=0)
    return u, v


class PixelShuffleUp(nn.Module):
    """1×1 spectral conv to ``out·scale²`` channels (+ BatchNorm if ``batchnorm``) → ReLU → pixel
    shuffle ×``scale`` → 2×2 box blur (replicate-padded top/left, so the size is kept), which
    removes the shuffle's checkerboard. State dict: ``conv.0.*`` (and ``conv.1.*``, the BatchNorm)."""

    def __init__(self, in_channels: int, out_channels: int, scale: int, batchnorm: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [SpectralConv2d(in_channels, out_channels * scale**2, 1, bias=not batchnorm)]
        if batchnorm:
            layers.append(nn.BatchNorm2d(out_channels * scale**2))
        self.conv = nn.Sequential(*layers)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._blur(F.pixel_shuffle(F.relu(self.conv(x)), self.scale))

    def forward_projected(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``einsum("nqc,nchw->nqhw", weights, self(x))`` for weights (N, Q, out), computed in a
        cheaper order: shuffle and blur are linear and act per channel, so the Q weighted sums are
        taken on the sub-pixel planes first and only Q (not ``out``) full-size planes are
        shuffled and blurred; the ``out``-channel full-size map is never made (at 512×384 it is
        200 MB). → (N, Q, H·scale, W·scale)."""
        y = F.relu(self.conv(x))  # (N, out·scale², h, w): channel c·scale² + s is sub-pixel s of c
        n, _, h, w = y.shape
        maps = torch.bmm(weights, y.reshape(n, weights.shape[2], -1))  # (N, Q, scale²·h·w)
        return self._blur(F.pixel_shuffle(maps.reshape(n, -1, h, w), self.scale))

    @staticmethod
    def _blur(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(x, (1, 0, 1, 0), mode="replicate"), 2, stride=1)


class UnetBlock(nn.Module):
    """Upsample ``x`` ×2, concatenate the BatchNorm-ed skip features, ReLU, 3×3 spectral conv →
    ReLU → BatchNorm. State dict: ``shuf.*``, ``bn.*``, ``conv.0.*`` (conv), ``conv.2.*`` (norm)."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.shuf = PixelShuffleUp(in_channels, out_channels, 2, batchnorm=True)
        self.bn = nn.BatchNorm2d(skip_channels)
        self.conv = nn.Sequential(
            SpectralConv2d(out_channels + skip_channels, out_channels, 3, bias=False),
            nn.ReLU(),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(F.relu(torch.cat((self.shuf(x), self.bn(skip)), dim=1)))


# --------------------------------------------------------------------------------------------
# The color decoder (queries, attention)


class Attention(nn.Module):
    """Multi-head attention with ``nn.MultiheadAttention``'s parameter names (``in_proj_weight``
    (3d, d), ``in_proj_bias`` (3d,), ``out_proj``) on batch-first (N, L, d) tensors, written out
    so that it exports to ONNX with dynamic lengths."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def _split(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        n, d = x.shape[0], weight.shape[0]
        return F.linear(x, weight, bias).reshape(n, -1, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        wq, wk, wv = self.in_proj_weight.chunk(3)
        bq, bk, bv = self.in_proj_bias.chunk(3)
        q, k, v = self._split(query, wq, bq), self._split(key, wk, bk), self._split(value, wv, bv)
        scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
        out = torch.matmul(torch.softmax(scores, dim=-1), v)  # (N, heads, Lq, d / heads)
        return self.out_proj(out.transpose(1, 2).flatten(2))


class CrossAttentionLayer(nn.Module):
    """Queries attend to image features (positions added to keys only), residual, LayerNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.multihead_attn = Attention(HIDDEN, HEADS)
        self.norm = nn.LayerNorm(HIDDEN)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, pos: torch.Tensor, query_pos: torch.Tensor
    ) -> torch.Tensor:
        return self.norm(x + self.multihead_attn(x + query_pos, memory + pos, memory))


class SelfAttentionLayer(nn.Module):
    """Queries attend to each other (query positions on queries and keys), residual, LayerNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.self_attn = Attention(HIDDEN, HEADS)
        self.norm = nn.LayerNorm(HIDDEN)

    def forward(self, x: torch.Tensor, query_pos: torch.Tensor) -> torch.Tensor:
        q = x + query_pos
        return self.norm(x + self.self_attn(q, q, x))


class FFNLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear1 = nn.Linear(HIDDEN, FFN_WIDTH)
        self.linear2 = nn.Linear(FFN_WIDTH, HIDDEN)
        self.norm = nn.LayerNorm(HIDDEN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.linear2(F.relu(self.linear1(x))))


class MLP(nn.Module):
    """``layers.0`` .. ``layers.{n-1}``: Linear layers with ReLU between them."""

    def __init__(self, dim: int, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(dim, dim) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


def sine_positions(feature: torch.Tensor, channels: int = HIDDEN) -> torch.Tensor:
    """DETR's normalised sine position code of a (N, C, h, w) map → (1, h·w, channels): for each
    of y then x, position p in 1..n scaled to p / n · 2π, then sin/cos pairs at wavelengths
    10000^(2i / (channels/2)). Built from the map's shape only (cumulative sums of ones, so that a
    traced graph keeps h and w dynamic)."""
    ones = torch.ones_like(feature[:1, 0])  # (1, h, w)
    y = ones.cumsum(1)
    x = ones.cumsum(2)
    y = y / (y[:, -1:, :] + 1e-6) * (2 * math.pi)
    x = x / (x[:, :, -1:] + 1e-6) * (2 * math.pi)
    half = channels // 2
    i = torch.arange(half, dtype=feature.dtype, device=feature.device)
    wavelengths = 10000.0 ** (2 * torch.div(i, 2, rounding_mode="floor") / half)

    def code(p: torch.Tensor) -> torch.Tensor:
        p = p[..., None] / wavelengths  # (1, h, w, half)
        return torch.stack((p[..., 0::2].sin(), p[..., 1::2].cos()), dim=4).flatten(3)

    return torch.cat((code(y), code(x)), dim=3).flatten(1, 2)


class MultiScaleColorDecoder(nn.Module):
    """Learned color queries refined against the pixel decoder's stride 16, 8, 4 maps in turn.

    forward(scales): three (N, C_i, h_i, w_i) maps → (N, queries, 256) color embeddings; the
    query maps are their dot products with every full-resolution pixel's 256 features (taken in
    ``PixelShuffleUp.forward_projected``).
    """

    def __init__(self, in_channels: tuple[int, ...], queries: int, layers: int) -> None:
        super().__init__()
        self.query_feat = nn.Embedding(queries, HIDDEN)
        self.query_embed = nn.Embedding(queries, HIDDEN)
        self.level_embed = nn.Embedding(len(in_channels), HIDDEN)
        self.input_proj = nn.ModuleList(nn.Conv2d(c, HIDDEN, kernel_size=1) for c in in_channels)
        for proj in self.input_proj:
            nn.init.kaiming_uniform_(proj.weight, a=1)
            nn.init.zeros_(proj.bias)
        self.transformer_self_attention_layers = nn.ModuleList(SelfAttentionLayer() for _ in range(layers))
        self.transformer_cross_attention_layers = nn.ModuleList(CrossAttentionLayer() for _ in range(layers))
        self.transformer_ffn_layers = nn.ModuleList(FFNLayer() for _ in range(layers))
        self.decoder_norm = nn.LayerNorm(HIDDEN)
        self.color_embed = MLP(HIDDEN, 3)

    def forward(self, scales: list[torch.Tensor]) -> torch.Tensor:
        memories, positions = [], []
        for i, feature in enumerate(scales):
            memory = self.input_proj[i](feature).flatten(2).transpose(1, 2)  # (N, h·w, 256)
            memories.append(memory + self.level_embed.weight[i])
            positions.append(sine_positions(feature))
        n = scales[0].shape[0]
        query_pos = self.query_embed.weight[None].expand(n, -1, -1)
        x = self.query_feat.weight[None].expand(n, -1, -1)
        for i, (cross, self_attn, ffn) in enumerate(
            zip(
                self.transformer_cross_attention_layers,
                self.transformer_self_attention_layers,
                self.transformer_ffn_layers,
                strict=True,
            )
        ):
            level = i % len(memories)
            x = cross(x, memories[level], positions[level], query_pos)
            x = ffn(self_attn(x, query_pos))
        return self.color_embed(self.decoder_norm(x))


class PixelDecoder(nn.Module):
    """``layers.0..2`` (U-Net blocks to strides 16, 8, 4), ``last_shuf`` (×4 to full resolution)
    and the ``color_decoder``; keys as in the release (``decoder.*``)."""

    def __init__(self, dims: tuple[int, ...], queries: int, layers: int) -> None:
        super().__init__()
        w = DECODER_WIDTH
        self.layers = nn.ModuleList(
            [UnetBlock(dims[3], dims[2], w), UnetBlock(w, dims[1], w), UnetBlock(w, dims[0], w // 2)]
        )
        self.last_shuf = PixelShuffleUp(w // 2, w // 2, 4, batchnorm=False)
        self.color_decoder = MultiScaleColorDecoder((w, w, w // 2), queries, layers)

    def forward(self, features: list[torch.Tensor], readout: torch.Tensor) -> torch.Tensor:
        """The encoder's four maps → (N, K, H, W): the K linear combinations ``readout`` (K,
        queries) of the paper's query maps (the identity gives the maps themselves)."""
        out0 = self.layers[0](features[3], features[2])
        out1 = self.layers[1](out0, features[1])
        out2 = self.layers[2](out1, features[0])
        colors = self.color_decoder([out0, out1, out2])  # (N, queries, 256)
        return self.last_shuf.forward_projected(out2, torch.matmul(readout, colors))


class _Encoder(nn.Module):
    """Holds the trunk as ``arch``, so that its keys read ``encoder.arch.*`` as in the release."""

    def __init__(self, name: str) -> None:
        super().__init__()
        depths, dims = CONVNEXT_SIZES[name]
        self.arch = ConvNeXt(depths, dims)


# --------------------------------------------------------------------------------------------
# The model


@dataclasses.dataclass(frozen=True)
class DDColorConfig(ModelConfig):
    name: str = "ddcolor"
    #: "convnext-l" (ddcolor_paper / _modelscope / _artistic) or "convnext-t" (ddcolor_paper_tiny).
    encoder: str = "convnext-l"
    #: The published multi-scale color decoder: 100 queries, 9 layers over 3 scales.
    num_queries: int = 100
    dec_layers: int = 9

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.encoder not in CONVNEXT_SIZES:
            raise ValueError(f"encoder must be one of {', '.join(CONVNEXT_SIZES)}, got {self.encoder!r}")
        if self.num_queries < 1 or self.dec_layers < 1:
            raise ValueError("num_queries and dec_layers must be at least 1")


class DDColor(ColorizationModel):
    """DDColor: (N, 1, H, W) L* in [0, 100], H and W multiples of 32 → (N, 2, H, W) a*b* / 128."""

    default_size = 512  # the authors' inference size
    size_multiple = 32
    #: No hint input: the Colorizer applies hints to the prediction (tinct.inference.hints).
    propagates_hints = True
    #: Out-of-gamut colors are clipped per channel, as the authors' pipeline does (cv2's float
    #: Lab → BGR), not mapped into the gamut at constant L*: the published look, within 1.5 levels
    #: (docs/ddcolor.md has the measurements of both).
    keep_lightness = False
    encoder_name = "encoder"  # the ConvNeXt trunk

    def __init__(self, config: DDColorConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = _Encoder(config.encoder)
        dims = CONVNEXT_SIZES[config.encoder][1]
        self.decoder = PixelDecoder(dims, config.num_queries, config.dec_layers)
        self.refine_net = nn.Sequential(nn.Sequential(SpectralConv2d(config.num_queries + 3, 2, 1, bias=True)))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def gray_input(self, L: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) L* → (N, 3, H, W) the gray sRGB image Lab(L*, 0, 0), ImageNet-normalised."""
        zeros = torch.zeros_like(L)
        rgb = lab_to_rgb(torch.cat((L, zeros, zeros), dim=1))
        return (rgb - self.mean) / self.std

    def forward_ab(self, L: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) L* in [0, 100] → (N, 2, H, W) a*b* in a*b* units (the published output)."""
        self.check_size(L.shape[-2], L.shape[-1])
        x = self.gray_input(L)
        # The fusion conv is 1x1 and linear, so its weights on the query maps are folded into the
        # maps' readout: two planes are made at full size instead of 100 (same result, ~20 % less
        # time). ``refine_net(cat(maps, x))`` is the published form.
        fusion = self.refine_net[0][0]
        w = fusion.weight()[:, :, 0, 0]  # (2, queries + 3)
        q = self.config.num_queries
        ab = self.decoder(self.encoder.arch(x), w[:, :q])
        return ab + F.conv2d(x, w[:, q:, None, None], fusion.bias)

    def forward(self, L: torch.Tensor, hints: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 1, H, W) L* in [0, 100] → (N, 2, H, W) a*b* / 128 (``hints`` is ignored)."""
        return self.forward_ab(L) / 128.0


@register_model("ddcolor")
def ddcolor(**overrides) -> DDColor:
    return DDColor(DDColorConfig.create(**overrides))


def config_from_state_dict(state: dict[str, torch.Tensor]) -> dict | None:
    """The ``ddcolor`` config overrides a published state dict implies, or None if it is not one.

    Recognised by the release's key layout (an ``encoder.arch`` ConvNeXt and a
    ``decoder.color_decoder``); the encoder size from the stem's width (96: ConvNeXt-T, 192:
    ConvNeXt-L), the number of queries and of decoder layers from their tensors. Whether every
    other key and shape matches is left to the strict load that follows.
    """
    stem = state.get("encoder.arch.downsample_layers.0.0.weight")
    queries = state.get("decoder.color_decoder.query_feat.weight")
    if not isinstance(stem, torch.Tensor) or not isinstance(queries, torch.Tensor) or stem.dim() != 4:
        return None
    widths = {dims[0]: name for name, (_, dims) in CONVNEXT_SIZES.items()}
    encoder = widths.get(int(stem.shape[0]))
    if encoder is None:
        return None
    prefix = "decoder.color_decoder.transformer_ffn_layers."
    layers = {k[len(prefix) :].split(".")[0] for k in state if k.startswith(prefix)}
    return {"encoder": encoder, "num_queries": int(queries.shape[0]), "dec_layers": max(1, len(layers))}
