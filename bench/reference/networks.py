"""PyTorch definitions of Tessera's networks, with Tessera's parameter names, so a Tessera
checkpoint (safetensors) loads one to one. Structures: shared/reference-architectures.md."""
import torch
from torch import nn


class ConvNorm(nn.Module):
    def __init__(self, cin, cout, k, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
        self.norm = nn.BatchNorm2d(cout)
        self.act = act

    def forward(self, x):
        x = self.norm(self.conv(x))
        return torch.relu(x) if self.act else x


class DoubleConvolution(nn.Module):
    def __init__(self, cin, cout, bn):
        super().__init__()
        self.bn = bn
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=not bn)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=not bn)
        if bn:
            self.norm1 = nn.BatchNorm2d(cout)
            self.norm2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = self.conv1(x)
        if self.bn:
            x = self.norm1(x)
        x = self.conv2(torch.relu(x))
        if self.bn:
            x = self.norm2(x)
        return torch.relu(x)


class UNet(nn.Module):
    def __init__(self, channels, bn, classes=1):
        super().__init__()
        self.depth = len(channels) - 1
        cin = 3
        self.encoder = nn.ModuleList()
        for c in channels:
            self.encoder.append(DoubleConvolution(cin, c, bn))
            cin = c
        self.upsample = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for i in range(self.depth):
            a, b = channels[self.depth - i], channels[self.depth - i - 1]
            self.upsample.append(nn.ConvTranspose2d(a, b, 2, stride=2))
            self.decoder.append(DoubleConvolution(2 * b, b, bn))
        self.head = nn.Conv2d(channels[0], classes, 1)

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x)
            if i < self.depth:
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
        for i in range(self.depth):
            x = self.decoder[i](torch.cat([skips[self.depth - 1 - i], self.upsample[i](x)], 1))
        return torch.sigmoid(self.head(x))


def widths(u, alpha=1.67):
    w = alpha * u
    return [int(w * 0.167), int(w * 0.333), int(w * 0.5)]


class MultiResBlock(nn.Module):
    def __init__(self, cin, u):
        super().__init__()
        ws = widths(u)
        self.width = sum(ws)
        self.shortcut = ConvNorm(cin, self.width, 1, act=False)
        prev = cin
        for i, w in enumerate(ws):
            setattr(self, f"conv{i}", ConvNorm(prev, w, 3))
            prev = w
        self.concat_norm = nn.BatchNorm2d(self.width)
        self.output_norm = nn.BatchNorm2d(self.width)

    def forward(self, x):
        a = self.conv0(x)
        b = self.conv1(a)
        c = self.conv2(b)
        merged = self.concat_norm(torch.cat([a, b, c], 1))
        return self.output_norm(torch.relu(self.shortcut(x) + merged))


class ResUnit(nn.Module):
    def __init__(self, cin, w):
        super().__init__()
        self.shortcut = ConvNorm(cin, w, 1, act=False)
        self.conv = ConvNorm(cin, w, 3)
        self.norm = nn.BatchNorm2d(w)

    def forward(self, x):
        return self.norm(torch.relu(self.shortcut(x) + self.conv(x)))


class MultiResUNet(nn.Module):
    def __init__(self, units, lengths, classes=1):
        super().__init__()
        self.depth = len(units) - 1
        cin = 3
        self.encoder = nn.ModuleList()
        self.respath = nn.ModuleList()
        for i, u in enumerate(units):
            block = MultiResBlock(cin, u)
            self.encoder.append(block)
            if i < self.depth:
                self.respath.append(nn.Sequential(*[ResUnit(block.width if j == 0 else u, u) for j in range(lengths[i])]))
            cin = block.width
        self.upsample = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for i in range(self.depth):
            u = units[self.depth - 1 - i]
            self.upsample.append(nn.ConvTranspose2d(cin, u, 2, stride=2))
            block = MultiResBlock(2 * u, u)
            self.decoder.append(block)
            cin = block.width
        self.head = ConvNorm(cin, classes, 1, act=False)

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x)
            if i < self.depth:
                skips.append(self.respath[i](x))
                x = nn.functional.max_pool2d(x, 2)
        for i in range(self.depth):
            x = self.decoder[i](torch.cat([self.upsample[i](x), skips[self.depth - 1 - i]], 1))
        return torch.sigmoid(self.head(x))


def build(name):
    if name == "unet-bn":
        return UNet([64, 128, 256, 512, 1024], True)
    if name == "unet":
        return UNet([64, 128, 256, 512, 1024], False)
    if name == "half-unet":
        return UNet([64, 128, 256], False)
    if name == "multiresunet":
        return MultiResUNet([32, 64, 128, 256, 512], [4, 3, 2, 1])
    if name == "half-multiresunet":
        return MultiResUNet([32, 64, 128], [4, 3])
    if name == "quarter-multiresunet":
        return MultiResUNet([32, 64], [4])
    raise SystemExit(f"no reference definition for {name}")


def load_tessera(model, path):
    """Loads a Tessera checkpoint; every tensor must be used and every parameter given."""
    from safetensors.torch import load_file
    state = load_file(path)
    own = model.state_dict()
    expected = {k for k in own if not k.endswith("num_batches_tracked")}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise SystemExit(f"checkpoint names differ: missing {missing[:5]}, unexpected {extra[:5]}")
    model.load_state_dict(state, strict=False)
