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


class ConvNormOpt(nn.Module):
    """Tessera's ConvNorm: conv (bias only without BN), optional BN, ReLU."""

    def __init__(self, cin, cout, k, bn=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=not bn)
        self.norm = nn.BatchNorm2d(cout) if bn else None

    def forward(self, x):
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        return torch.relu(x)


class AttentionGate(nn.Module):
    def __init__(self, g, x, inter):
        super().__init__()
        self.gate_conv = nn.Conv2d(g, inter, 1)
        self.gate_norm = nn.BatchNorm2d(inter)
        self.skip_conv = nn.Conv2d(x, inter, 1)
        self.skip_norm = nn.BatchNorm2d(inter)
        self.psi_conv = nn.Conv2d(inter, 1, 1)
        self.psi_norm = nn.BatchNorm2d(1)

    def forward(self, skip, gate):
        a = self.gate_norm(self.gate_conv(gate)) + self.skip_norm(self.skip_conv(skip))
        return skip * torch.sigmoid(self.psi_norm(self.psi_conv(torch.relu(a))))


class AttentionUNet(nn.Module):
    def __init__(self, channels=(64, 128, 256, 512, 1024), classes=1):
        super().__init__()
        self.depth = len(channels) - 1
        cin = 3
        self.encoder = nn.ModuleList()
        for c in channels:
            self.encoder.append(DoubleConvolution(cin, c, True))
            cin = c
        d = self.depth
        self.upsample = nn.ModuleList([ConvNormOpt(channels[d - i], channels[d - i - 1], 3) for i in range(d)])
        self.gate = nn.ModuleList([AttentionGate(channels[d - i - 1], channels[d - i - 1], channels[d - i - 1] // 2) for i in range(d)])
        self.decoder = nn.ModuleList([DoubleConvolution(2 * channels[d - i - 1], channels[d - i - 1], True) for i in range(d)])
        self.head = nn.Conv2d(channels[0], classes, 1)

    def forward(self, x):
        skips = []
        for i, block in enumerate(self.encoder):
            x = block(x)
            if i < self.depth:
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
        for i in range(self.depth):
            up = self.upsample[i](nn.functional.interpolate(x, scale_factor=2, mode="nearest"))
            x = self.decoder[i](torch.cat([self.gate[i](skips[self.depth - 1 - i], up), up], 1))
        return torch.sigmoid(self.head(x))


class Nested(nn.Module):
    def __init__(self, enc, dec, dense):
        super().__init__()
        self.levels, self.dense = len(enc) - 1, dense
        for i in range(self.levels):
            for j in range(1, self.levels - i + 1):
                left = enc[i] + (j - 1) * dec[i] if dense else (enc[i] if j == 1 else dec[i])
                below = enc[i + 1] if j == 1 else dec[i + 1]
                setattr(self, f"x{i}_{j}", DoubleConvolution(left + below, dec[i], True))

    def forward(self, features):
        grid = [[f] for f in features]
        for j in range(1, self.levels + 1):
            for i in range(self.levels - j + 1):
                up = nn.functional.interpolate(grid[i + 1][j - 1], scale_factor=2, mode="bilinear", align_corners=True)
                left = grid[i] if self.dense else [grid[i][j - 1]]
                grid[i].append(getattr(self, f"x{i}_{j}")(torch.cat(left + [up], 1)))
        return grid[0][1:]


class UNetPlusPlus(nn.Module):
    def __init__(self, channels=(32, 64, 128, 256, 512), classes=1):
        super().__init__()
        cin = 3
        self.encoder = nn.ModuleList()
        for c in channels:
            self.encoder.append(DoubleConvolution(cin, c, True))
            cin = c
        self.decoder = Nested(list(channels), list(channels[:-1]), True)
        self.head = nn.ModuleList([nn.Conv2d(channels[0], classes, 1)])

    def forward(self, x):
        features = []
        for i, block in enumerate(self.encoder):
            if i > 0:
                x = nn.functional.max_pool2d(x, 2)
            x = block(x)
            features.append(x)
        return torch.sigmoid(self.head[0](self.decoder(features)[-1]))


class SegNet(nn.Module):
    def __init__(self, channels=(64, 128, 256, 512, 512), convolutions=(2, 2, 3, 3, 3), classes=1):
        super().__init__()
        cin = 3
        self.encoder = nn.ModuleList()
        for s, c in enumerate(channels):
            layers = []
            for _ in range(convolutions[s]):
                layers.append(ConvNormOpt(cin, c, 3))
                cin = c
            self.encoder.append(nn.Sequential(*layers))
        self.decoder = nn.ModuleList()
        for s in reversed(range(len(channels))):
            n = convolutions[s]
            self.decoder.append(nn.Sequential(*[
                ConvNormOpt(channels[s], channels[s - 1] if i == n - 1 and s > 0 else channels[s], 3) for i in range(n)]))
        self.head = nn.Conv2d(channels[0], classes, 1)

    def forward(self, x):
        pools = []
        for stage in self.encoder:
            x = stage(x)
            size = x.shape[-2:]
            x, idx = nn.functional.max_pool2d(x, 2, return_indices=True)
            pools.append((idx, size))
        for stage, (idx, size) in zip(self.decoder, reversed(pools)):
            x = stage(nn.functional.max_unpool2d(x, idx, 2, output_size=size))
        return torch.sigmoid(self.head(x))


class FCN8s(nn.Module):
    def __init__(self, channels=(64, 128, 256, 512, 512), convolutions=(2, 2, 3, 3, 3), fc=4096, fc_kernel=7, classes=1):
        super().__init__()
        cin = 3
        self.encoder = nn.ModuleList()
        for s, c in enumerate(channels):
            layers = []
            for _ in range(convolutions[s]):
                layers.append(ConvNormOpt(cin, c, 3, bn=False))
                cin = c
            self.encoder.append(nn.Sequential(*layers))
        self.fc6 = nn.Conv2d(channels[4], fc, fc_kernel, padding=fc_kernel // 2)
        self.fc7 = nn.Conv2d(fc, fc, 1)
        self.score = nn.Conv2d(fc, classes, 1)
        self.score_pool4 = nn.Conv2d(channels[3], classes, 1)
        self.score_pool3 = nn.Conv2d(channels[2], classes, 1)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        pooled = []
        for stage in self.encoder:
            x = nn.functional.max_pool2d(stage(x), 2)
            pooled.append(x)
        up = lambda t: nn.functional.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)
        h = self.drop(torch.relu(self.fc7(self.drop(torch.relu(self.fc6(x))))))
        s = up(up(self.score(h)) + self.score_pool4(pooled[3])) + self.score_pool3(pooled[2])
        return torch.sigmoid(up(up(up(s))))


class ConvNormAct(nn.Module):
    """Tessera's ConvNorm with BN and any activation; `stride`, `groups`, `dilation` as given."""

    def __init__(self, cin, cout, k, act="relu", stride=1, groups=1, dilation=1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=dilation * (k - 1) // 2, groups=groups,
                              dilation=dilation, bias=False)
        self.norm = nn.BatchNorm2d(cout)
        self.act = act

    def forward(self, x):
        x = self.norm(self.conv(x))
        return {"relu": torch.relu, "swish": nn.functional.silu, "none": lambda t: t}[self.act](x)


class SqueezeExcitation(nn.Module):
    def __init__(self, c, squeezed):
        super().__init__()
        self.reduce = nn.Conv2d(c, squeezed, 1)
        self.expand = nn.Conv2d(squeezed, c, 1)

    def forward(self, x):
        s = nn.functional.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.expand(nn.functional.silu(self.reduce(s))))


class MBConv(nn.Module):
    def __init__(self, cin, cout, expand, k, stride):
        super().__init__()
        wide = cin * expand
        self.expansion = ConvNormAct(cin, wide, 1, "swish") if expand != 1 else None
        self.depthwise = ConvNormAct(wide, wide, k, "swish", stride=stride, groups=wide)
        self.excitation = SqueezeExcitation(wide, max(1, cin // 4))
        self.projection = ConvNormAct(wide, cout, 1, "none")
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        h = self.expansion(x) if self.expansion is not None else x
        h = self.projection(self.excitation(self.depthwise(h)))
        return h + x if self.residual else h


class EfficientNetB0(nn.Module):
    stages = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]

    def __init__(self):
        super().__init__()
        self.stem = ConvNormAct(3, 32, 3, "swish", stride=2)
        cin = 32
        for s, (e, k, st, cout, n) in enumerate(self.stages):
            for r in range(n):
                setattr(self, f"stage{s}_{r}", MBConv(cin, cout, e, k, st if r == 0 else 1))
                cin = cout

    def features(self, x):
        h = self.stem(x)
        out = [h]
        for s, (_, _, _, _, n) in enumerate(self.stages):
            for r in range(n):
                h = getattr(self, f"stage{s}_{r}")(h)
            if s in (1, 2, 4, 6):
                out.append(h)
        return out


class EfficientUNetPlusPlus(nn.Module):
    def __init__(self, decoder=(32, 64, 128, 256), final=16, classes=1):
        super().__init__()
        self.encoder = EfficientNetB0()
        self.decoder = Nested([32, 24, 40, 112, 320], list(decoder), False)
        self.final = DoubleConvolution(decoder[0], final, True)
        self.head = nn.Conv2d(final, classes, 1)

    def forward(self, x):
        top = self.decoder(self.encoder.features(x))[-1]
        up = nn.functional.interpolate(top, scale_factor=2, mode="bilinear", align_corners=True)
        return torch.sigmoid(self.head(self.final(up)))


def tessera_names(state):
    """Tessera names EfficientNet blocks `stage{s}.{r}`; Python attributes cannot hold the dot."""
    import re
    return {re.sub(r"stage(\d+)\.(\d+)", r"stage\1_\2", k): v for k, v in state.items()}


class Separable(nn.Module):
    def __init__(self, c, k):
        super().__init__()
        self.depthwise = nn.Conv2d(c, c, k, padding=k // 2, groups=c, bias=False)
        self.pointwise = ConvNormAct(c, c, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def hybrid_dilated(cin, cout):
    return nn.Sequential(*[ConvNormAct(cin if r == 1 else cout, cout, 3, dilation=r) for r in (1, 2, 3)])


class Cell(nn.Module):
    def __init__(self, c, ops):
        super().__init__()
        for o, op in enumerate(ops):
            if op == "sep3x3":
                setattr(self, f"op{o}", Separable(c, 3))
            elif op == "sep5x5":
                setattr(self, f"op{o}", Separable(c, 5))
            elif op == "hdc3x3":
                setattr(self, f"op{o}", hybrid_dilated(c, c))
        self.ops = ops


class CellLayer(nn.Module):
    def __init__(self, cin, width, cells):
        super().__init__()
        self.preprocess = ConvNormAct(cin, width, 1)
        self.cells = cells
        for k, cell in enumerate(cells):
            setattr(self, f"cell{k}", Cell(width, cell["ops"]))
        used = {i for cell in cells for i in cell["inputs"]}
        self.outputs = [i for i in range(1, len(cells) + 1) if i not in used]
        self.combine = ConvNormAct(len(self.outputs) * width, width, 1)

    def forward(self, x):
        nodes = [self.preprocess(x)]
        for k, cell in enumerate(self.cells):
            module = getattr(self, f"cell{k}")
            branches = [getattr(module, f"op{o}")(nodes[i]) if hasattr(module, f"op{o}") else nodes[i]
                        for o, i in enumerate(cell["inputs"])]
            out = branches[0] + branches[1]
            if cell.get("skip"):
                out = out + nodes[cell["inputs"][0]]
            nodes.append(out)
        return self.combine(torch.cat([nodes[i] for i in self.outputs], 1))


# Tessera's default genome (Genome.example in Plugins/AutoSegNet).
EXAMPLE_GENOME = {
    "down": [{"ops": ["sep3x3", "sep3x3"], "inputs": [0, 0]}, {"ops": ["identity", "sep5x5"], "inputs": [0, 1], "skip": True}],
    "bridge": [{"ops": ["sep5x5", "identity"], "inputs": [0, 0]}, {"ops": ["sep5x5", "identity"], "inputs": [1, 0]},
               {"ops": ["sep5x5", "hdc3x3"], "inputs": [2, 1]}],
    "up": [{"ops": ["sep3x3", "sep3x3"], "inputs": [0, 0]}, {"ops": ["sep3x3", "identity"], "inputs": [1, 0], "skip": True}],
    "long_skips": [True, True, True, True],
}


class AutoSegNet(nn.Module):
    def __init__(self, channels=(32, 64, 128, 256, 256), bridge=512, tile=512, minimum=32, genome=EXAMPLE_GENOME, classes=1):
        super().__init__()
        size, self.poolings = tile, 0
        for _ in channels:
            if size > minimum and size >= 2:
                size //= 2
                self.poolings += 1
        self.genome = genome
        cin = 3
        self.encoder = nn.ModuleList()
        for i, c in enumerate(channels):
            self.encoder.append(CellLayer(cin, c, genome["down"]) if i < self.poolings else hybrid_dilated(cin, c))
            cin = c
        self.bridge = CellLayer(channels[-1], bridge, genome["bridge"])
        cin = bridge
        self.decoder = nn.ModuleList()
        for d in range(self.poolings):
            level = self.poolings - 1 - d
            skip = channels[level] if genome["long_skips"][level] else 0
            self.decoder.append(CellLayer(cin + skip, channels[level], genome["up"]))
            cin = channels[level]
        self.head = nn.Conv2d(channels[0] if self.poolings else bridge, classes, 1)

    def forward(self, x):
        skips = []
        for i, layer in enumerate(self.encoder):
            x = layer(x)
            if i < self.poolings:
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
        x = self.bridge(x)
        for d, layer in enumerate(self.decoder):
            level = self.poolings - 1 - d
            x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            if self.genome["long_skips"][level]:
                x = torch.cat([x, skips[level]], 1)
            x = layer(x)
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
    if name == "attention-unet":
        return AttentionUNet()
    if name == "unet++":
        return UNetPlusPlus()
    if name == "segnet":
        return SegNet()
    if name == "fcn":
        return FCN8s()
    if name == "efficientunet++":
        return EfficientUNetPlusPlus()
    if name == "autosegnet":
        return AutoSegNet()
    raise SystemExit(f"no reference definition for {name}")


def load_tessera(model, path):
    """Loads a Tessera checkpoint; every tensor must be used and every parameter given."""
    from safetensors.torch import load_file
    state = tessera_names(load_file(path))
    own = model.state_dict()
    expected = {k for k in own if not k.endswith("num_batches_tracked")}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise SystemExit(f"checkpoint names differ: missing {missing[:5]}, unexpected {extra[:5]}")
    model.load_state_dict(state, strict=False)
