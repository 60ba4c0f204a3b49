"""MiniFASNetV2 and MiniFASNetV1SE: the passive anti-spoofing networks, in torch.

Used only to verify the published weights and to export them to ONNX (serving runs ONNX
Runtime, :mod:`lockers.vision.antispoof`); import it lazily, it imports torch.

Both are MobileFaceNet-style networks on an 80x80 face crop (Silent-Face-Anti-Spoofing by
minivision-ai): a 3x3 stride-2 stem, a depthwise 3x3, then stages of inverted-residual
"depth-wise" blocks (1x1 expand → 3x3 depthwise → 1x1 linear projection), three of them
stride-2 transitions (40 → 20 → 10 → 5 px) and the others residual, then a 1x1 to 512 channels,
a 5x5 depthwise "global" convolution to 1x1, a 128-d linear embedding with BatchNorm and a
3-way classifier (0 = print, 1 = real, 2 = screen). The expansion widths were pruned per block,
so they are listed per model below (read off the shapes of the published files). V1SE adds a
squeeze-excitation module (reduction 4, BatchNorm inside) after the last block of each residual
stage. Every convolution has no bias; each is followed by BatchNorm, and by PReLU except the
linear projections and the global depthwise convolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

NUM_CLASSES = 3
INPUT_SIZE = 80
EMBEDDING_SIZE = 128
_STEM = 32
# Output channels of the stages: 40x40 → 20x20 (64) → 10x10 (128) → 5x5 (128).
_STAGE_OUT = (64, 128, 128)


@dataclass(frozen=True)
class Widths:
    """Expansion width of every depth-wise block of one MiniFASNet variant.

    ``down`` are the three stride-2 transitions (conv_23, conv_34, conv_45); ``stages`` the
    residual blocks of conv_3, conv_4 and conv_5.
    """

    down: tuple[int, int, int]
    stages: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


V2_WIDTHS = Widths(
    down=(103, 231, 308),
    stages=((13, 13, 13, 13), (231, 52, 26, 77, 26, 26), (26, 26)),
)
V1SE_WIDTHS = Widths(
    down=(103, 231, 308),
    stages=((13, 26, 13, 52), (154, 52, 26, 52, 26, 26), (26, 26)),
)


class ConvBlock(nn.Module):
    """conv (no bias) → BatchNorm → PReLU (``prelu=False``: a linear block)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 1,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        *,
        prelu: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.prelu = nn.PReLU(cout) if prelu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return x if self.prelu is None else self.prelu(x)


class SqueezeExcite(nn.Module):
    """Channel attention: global mean → 1x1 (C/4) → BN → ReLU → 1x1 (C) → BN → sigmoid → scale."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = channels // reduction
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.mean(dim=(2, 3), keepdim=True)
        w = torch.relu(self.bn1(self.fc1(w)))
        return x * torch.sigmoid(self.bn2(self.fc2(w)))


class DepthWise(nn.Module):
    """1x1 expand → 3x3 depthwise (stride 1 or 2) → 1x1 linear projection [→ SE] [+ input]."""

    def __init__(
        self, cin: int, width: int, cout: int, *, stride: int, residual: bool, se: bool = False
    ) -> None:
        super().__init__()
        self.conv = ConvBlock(cin, width)
        self.conv_dw = ConvBlock(width, width, 3, stride, 1, groups=width)
        self.project = ConvBlock(width, cout, prelu=False)
        self.se_module = SqueezeExcite(cout) if se else None
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.conv_dw(self.conv(x)))
        if self.se_module is not None:
            y = self.se_module(y)
        return x + y if self.residual else y


class ResidualStage(nn.Module):
    """Residual depth-wise blocks at one resolution; with ``se`` the last one has an SE module."""

    def __init__(self, channels: int, widths: tuple[int, ...], *, se: bool) -> None:
        super().__init__()
        last = len(widths) - 1
        self.model = nn.Sequential(
            *(
                DepthWise(channels, w, channels, stride=1, residual=True, se=se and i == last)
                for i, w in enumerate(widths)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MiniFASNet(nn.Module):
    """``(n, 3, 80, 80)`` float (BGR, 0..255, as the published models were trained) → logits
    ``(n, 3)``: print, real, screen."""

    def __init__(self, widths: Widths, *, se: bool) -> None:
        super().__init__()
        c1, c2, c3 = _STAGE_OUT
        d1, d2, d3 = widths.down
        s1, s2, s3 = widths.stages
        self.conv1 = ConvBlock(3, _STEM, 3, 2, 1)
        self.conv2_dw = ConvBlock(_STEM, _STEM, 3, 1, 1, groups=_STEM)
        self.conv_23 = DepthWise(_STEM, d1, c1, stride=2, residual=False)
        self.conv_3 = ResidualStage(c1, s1, se=se)
        self.conv_34 = DepthWise(c1, d2, c2, stride=2, residual=False)
        self.conv_4 = ResidualStage(c2, s2, se=se)
        self.conv_45 = DepthWise(c2, d3, c3, stride=2, residual=False)
        self.conv_5 = ResidualStage(c3, s3, se=se)
        self.conv_6_sep = ConvBlock(c3, 512)
        # 80 px in → 5x5 here; the kernel covers it all (a learned global pooling).
        kernel = (INPUT_SIZE + 15) // 16
        self.conv_6_dw = ConvBlock(512, 512, kernel, groups=512, prelu=False)
        self.linear = nn.Linear(512, EMBEDDING_SIZE, bias=False)
        self.bn = nn.BatchNorm1d(EMBEDDING_SIZE)
        self.prob = nn.Linear(EMBEDDING_SIZE, NUM_CLASSES, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2_dw(self.conv1(x))
        x = self.conv_3(self.conv_23(x))
        x = self.conv_4(self.conv_34(x))
        x = self.conv_5(self.conv_45(x))
        x = self.conv_6_dw(self.conv_6_sep(x))
        return self.prob(self.bn(self.linear(torch.flatten(x, 1))))


ARCHITECTURES = {"MiniFASNetV2": (V2_WIDTHS, False), "MiniFASNetV1SE": (V1SE_WIDTHS, True)}


def build(architecture: str) -> MiniFASNet:
    """A fresh network of ``architecture`` (a key of :data:`ARCHITECTURES`), in eval mode."""
    widths, se = ARCHITECTURES[architecture]
    return MiniFASNet(widths, se=se).eval()
