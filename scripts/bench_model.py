"""The universal BiGRU-attention network in PyTorch 2.9, timed the way
models/examples/train_step.rs times ours: one Adam training step on a batch of
64 x 60 x 18 and one inference batch, CPU, eager mode.

    $TRADERAI_VENV/bin/python scripts/bench_model.py [steps] [threads]
"""
import json
import sys
import time

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, features=18, g1=128, g2=64, att=128, d1=128, d2=64):
        super().__init__()
        self.gru1 = nn.GRU(features, g1, batch_first=True, bidirectional=True)
        self.norm1 = nn.LayerNorm(2 * g1)
        self.gru2 = nn.GRU(2 * g1, g2, batch_first=True, bidirectional=True)
        self.norm2 = nn.LayerNorm(2 * g2)
        self.att_proj = nn.Linear(2 * g2, att)
        self.att_score = nn.Linear(att, 1, bias=False)
        self.dense1 = nn.Linear(4 * g2, d1)
        self.norm3 = nn.LayerNorm(d1)
        self.drop1 = nn.Dropout(0.2)
        self.dense2 = nn.Linear(d1, d2)
        self.drop2 = nn.Dropout(0.15)
        self.cls = nn.Linear(d2, 3)
        self.reg = nn.Linear(d2, 1)

    def forward(self, x):
        h = self.norm1(self.gru1(x)[0])
        h = self.norm2(self.gru2(h)[0])
        last = h[:, -1, :]
        e = self.att_score(torch.tanh(self.att_proj(h))).squeeze(-1)
        alpha = torch.softmax(e, dim=1)
        ctx = torch.bmm(alpha.unsqueeze(1), h).squeeze(1)
        z = torch.cat([ctx, last], dim=1)
        z = self.drop1(self.norm3(torch.relu(self.dense1(z))))
        z = self.drop2(torch.relu(self.dense2(z)))
        return self.cls(z), self.reg(z).squeeze(-1)


def main():
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if len(sys.argv) > 2:
        torch.set_num_threads(int(sys.argv[2]))
    torch.manual_seed(1)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=5e-4)
    x = torch.rand(64, 60, 18) * 2 - 1
    y = torch.arange(64) % 3
    ce = nn.CrossEntropyLoss()
    huber = nn.HuberLoss()
    target = torch.zeros(64)

    def step():
        opt.zero_grad()
        logits, move = net(x)
        loss = ce(logits, y) + 0.3 * huber(move, target)
        loss.backward()
        opt.step()

    net.train()
    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    train_ms = (time.perf_counter() - t0) * 1e3 / steps

    net.eval()
    with torch.no_grad():
        net(x)
        t0 = time.perf_counter()
        for _ in range(steps):
            net(x)
        infer_ms = (time.perf_counter() - t0) * 1e3 / steps
    params = sum(p.numel() for p in net.parameters())
    print(json.dumps({
        "backend": f"pytorch {torch.__version__} (cpu, {torch.get_num_threads()} threads)",
        "params": params,
        "train_step_ms": round(train_ms, 1),
        "infer_batch_ms": round(infer_ms, 1),
    }))


if __name__ == "__main__":
    main()
