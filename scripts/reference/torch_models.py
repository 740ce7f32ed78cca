"""PyTorch twins of Amalgam's model zoo, layer for layer with the same dotted names.
Used by make_golden.py (whole-network golden gradients), scripts/bench/torch_bench.py and
scripts/models/pytorch_zoo.py (checkpoint conversion, docs/models.md)."""
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(h + (self.shortcut(x) if self.shortcut is not None else x))


class ResNet(nn.Module):
    """Amalgam's `ResNet` (ResNet-20 with blocks=3, widths 16/32/64)."""
    def __init__(self, blocks=3, widths=(16, 32, 64), classes=10, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False); self.bn1 = nn.BatchNorm2d(widths[0])
        c = widths[0]; stages = []
        for w, s in zip(widths, (1, 2, 2)):
            blk = []
            for i in range(blocks):
                blk.append(Block(c, w, s if i == 0 else 1)); c = w
            stages.append(nn.Sequential(*blk))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(widths[2], classes)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layer3(self.layer2(self.layer1(h)))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


class SmallCNN(nn.Module):
    """Amalgam's `SmallCNN` (PyTorch's MNIST example net); with batch_norm, BatchNorm after each
    convolution and the hidden linear layer, before the ReLU (Amalgam's `cnn-bn`)."""
    def __init__(self, size=28, classes=10, dropout=False, widths=(32, 64, 128), batch_norm=False):
        super().__init__()
        side = (size - 4) // 2
        norm = (lambda m: [m]) if batch_norm else (lambda m: [])
        self.features = nn.Sequential(nn.Conv2d(1, widths[0], 3), *norm(nn.BatchNorm2d(widths[0])), nn.ReLU(),
                                      nn.Conv2d(widths[0], widths[1], 3), *norm(nn.BatchNorm2d(widths[1])), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Dropout(0.25 if dropout else 0.0))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(widths[1] * side * side, widths[2]), *norm(nn.BatchNorm1d(widths[2])), nn.ReLU(),
                                        nn.Dropout(0.5 if dropout else 0.0), nn.Linear(widths[2], classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def MLP(inputs=784, hidden=(512, 512), classes=10):
    """Amalgam's `MLP` (keys layers.N.*)."""
    layers = [nn.Flatten()]
    w = inputs
    for h in hidden:
        layers += [nn.Linear(w, h), nn.ReLU()]; w = h
    layers.append(nn.Linear(w, classes))
    m = nn.Module(); m.layers = nn.Sequential(*layers); m.forward = lambda x: m.layers(x)
    return m


class VGG(nn.Module):
    """Amalgam's `VGG`: (conv 3×3 pad 1 → BN → ReLU) × 2 per stage, max-pool after each of three
    stages (32, 64, 128), global average pooling, linear classifier."""
    def __init__(self, widths=(32, 32, 0, 64, 64, 0, 128, 128, 0), classes=10, in_channels=1):
        super().__init__()
        layers, c = [], in_channels
        for w in widths:
            if w == 0:
                layers.append(nn.MaxPool2d(2))
                continue
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU()]
            c = w
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, classes)

    def forward(self, x):
        return self.classifier(self.features(x))
