#!/usr/bin/python3
"""The PyTorch side of the benchmark suite: the workloads of bench/workloads.lua,
same shapes and math, one workload per process.

    /usr/bin/python3 bench/torch_ref.py W3 [--time 1.0] [--warmup 0.5] [--threads 1]

Prints one line `RESULT <workload> key=value ...` in the same format as
workloads.lua (rss_kb = VmHWM read at the end of the process). bench/run.lua sets
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS and, for one of the settings, GLIBC_TUNABLES.
"""
import argparse
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

now = time.perf_counter
LAST_CPU = None


def measure(step, secs, warmup):
    """Same policy as workloads.lua: warm up, then batches of ~10 ms until secs passed.
    Records in LAST_CPU the CPU seconds per wall second of the measured window."""
    global LAST_CPU
    t0, n = now(), 0
    while True:
        step()
        n += 1
        if now() - t0 >= warmup:
            break
    per_iter = (now() - t0) / n
    batch = max(1, int(0.01 / max(per_iter, 1e-9)))
    c0 = time.process_time()
    t0, n = now(), 0
    while True:
        for _ in range(batch):
            step()
        n += batch
        elapsed = now() - t0
        if elapsed >= secs and n >= 2:
            LAST_CPU = (time.process_time() - c0) / elapsed
            return n, elapsed


class GRLFunction(torch.autograd.Function):
    """The Gradient Reversal Layer as people write it in PyTorch (no built-in exists)."""

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -ctx.alpha * g, None


def revgrad(x, alpha):
    return GRLFunction.apply(x, alpha)


class GradientReversal(nn.Module):
    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return revgrad(x, self.alpha)


def w1(o):
    x = torch.tensor([1.5], requires_grad=True)

    def step():
        y = revgrad(x * 5, 1.0) + 6
        y.backward()

    n, s = measure(step, o.time, o.warmup)
    return dict(value=s / n * 1e6, unit='us/iter', iters=n, secs=s)


def w2(o):
    net = nn.Sequential(nn.Linear(10, 10), GradientReversal(1.0))
    x = torch.randn(1, 10)

    def step():
        # set_to_none=True: what lunagrad's zero_grad does (p.grad = nil), and
        # PyTorch's default from 2.0 on (1.13 still zeroes in place by default).
        net.zero_grad(set_to_none=True)
        net(x).sum().backward()

    n, s = measure(step, o.time, o.warmup)
    return dict(value=s / n * 1e6, unit='us/iter', iters=n, secs=s)


def run_dann(o, features, label_head, domain_head, x):
    params = list(features.parameters()) + list(label_head.parameters()) + list(domain_head.parameters())
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    y = torch.arange(64) % 10
    yd = torch.cat([torch.zeros(64, 1), torch.ones(64, 1)])
    last = [None]

    def step():
        opt.zero_grad(set_to_none=True)
        f = features(x)
        loss = F.cross_entropy(label_head(f[:64]), y) + F.binary_cross_entropy_with_logits(domain_head(f), yd)
        loss.backward()
        opt.step()
        last[0] = loss

    n, s = measure(step, o.time, o.warmup)
    return dict(value=n / s, unit='steps/s', iters=n, secs=s, loss=last[0].item())


def w3(o):
    features = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU())
    label_head = nn.Linear(256, 10)
    domain_head = nn.Sequential(GradientReversal(1.0), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))
    return run_dann(o, features, label_head, domain_head, torch.randn(128, 784))


def lenet_features():
    return nn.Sequential(nn.Conv2d(3, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 48, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten())


def lenet_label_head():
    return nn.Sequential(nn.Linear(768, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))


W4_GFLOP_PER_STEP = 3.04


def w4(o):
    domain_head = nn.Sequential(GradientReversal(1.0), nn.Linear(768, 100), nn.ReLU(), nn.Linear(100, 1))
    r = run_dann(o, lenet_features(), lenet_label_head(), domain_head, torch.randn(128, 3, 28, 28))
    r['gflops'] = r['value'] * W4_GFLOP_PER_STEP
    return r


def w5(o):
    """torch.matmul (the API) per size, and torch.mm (the direct gemm) as `mm<n>`."""
    r = dict(unit='GFLOP/s', iters=0, secs=0.0)
    for n in o.sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        flop = 2.0 * n * n * n
        iters, s = measure(lambda: torch.matmul(a, b), o.time, o.warmup)
        r['n%d' % n] = flop * iters / s / 1e9
        r['cpu%d' % n] = LAST_CPU
        r['iters'] += iters
        r['secs'] += s
        iters, s = measure(lambda: torch.mm(a, b), o.time, o.warmup)
        r['mm%d' % n] = flop * iters / s / 1e9
        r['cpumm%d' % n] = LAST_CPU
    r['value'] = r['n%d' % o.sizes[0]]
    return r


def w6(o):
    features, head = lenet_features().eval(), lenet_label_head().eval()
    x = torch.randn(256, 3, 28, 28)

    def step():
        with torch.no_grad():
            return head(features(x))

    n, s = measure(step, o.time, o.warmup)
    return dict(value=256 * n / s, unit='images/s', iters=n, secs=s)


def add(o):
    a, b = torch.randn(10), torch.randn(10)
    n, s = measure(lambda: a + b, o.time, o.warmup)
    return dict(value=s / n * 1e6, unit='us/op', iters=n, secs=s)


WORKLOADS = dict(W1=w1, W2=w2, W3=w3, W4=w4, W5=w5, W6=w6, ADD=add)


def vmhwm_kb():
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def fmt(v):
    if isinstance(v, bool) or isinstance(v, str):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return '%.6g' % v
    return str(v)


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('workload', choices=sorted(WORKLOADS))
    p.add_argument('--time', type=float, default=1.0)
    p.add_argument('--warmup', type=float, default=0.5)
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--sizes', default='256,512,1024,2048')
    o = p.parse_args(argv)
    o.sizes = [int(s) for s in o.sizes.split(',') if s]
    if o.threads:
        torch.set_num_threads(o.threads)
    torch.manual_seed(0)
    r = WORKLOADS[o.workload](o)
    r['cpu'] = LAST_CPU
    r['rss_kb'] = vmhwm_kb()
    r['threads'] = torch.get_num_threads()
    print('RESULT ' + o.workload + ' ' + ' '.join('%s=%s' % (k, fmt(r[k])) for k in sorted(r)))
    sys.stdout.flush()


if __name__ == '__main__':
    main(sys.argv[1:])
