"""The torch (CPU) baseline of `throng bench --workload sampler`: DPM-Solver++(2M) at 20
steps on the 8-component ring (`ring8`: weights 1/8, means 4 (cos, sin)(2 pi k / 8), variances
0.09), linear VP schedule (beta 0.1 to 20), uniform in half log-SNR from t = 1 to 1e-3, from
exact draws of p_T, with the mixture's exact denoiser, vectorised over samples in f32, in
batches of 10^6 (as a torch user would; one batch of 10^7 holds ~5 GB of temporaries).
The per-step coefficients are computed once in f64, as throng does.

    python3 benches/sampler_torch.py [SAMPLES] [REPEAT]

Prints the median wall time of REPEAT runs (default 3) and the samples' first two moments
against the exact ones (a check that it samples the same law)."""

import math
import statistics
import sys
import time

import torch

B0, B1 = 0.1, 20.0


def log_alpha(t):
    return -0.25 * t * t * (B1 - B0) - 0.5 * t * B0


def lam(t):
    la = log_alpha(t)
    return la - 0.5 * math.log(-math.expm1(2.0 * la))


def t_of_lambda(l):
    sp = math.log1p(math.exp(-2.0 * l)) if -2.0 * l < 30 else -2.0 * l
    d = B1 - B0
    return 2.0 * d * sp / ((math.sqrt(B0 * B0 + 2.0 * d * sp) + B0) * d)


def alpha(t):
    return math.exp(log_alpha(t))


def sigma(t):
    return math.sqrt(-math.expm1(2.0 * log_alpha(t)))


def coefficients(n, t_start=1.0, t_end=1e-3):
    l0, l1 = lam(t_start), lam(t_end)
    ts = [t_start] + [t_of_lambda(l0 + (l1 - l0) * i / n) for i in range(1, n)] + [t_end]
    rows = []
    for i in range(n):
        s, t = ts[i], ts[i + 1]
        h = lam(t) - lam(s)
        b = -alpha(t) * math.expm1(-h)
        a = sigma(t) / sigma(s)
        if i == 0:
            rows.append((alpha(s), sigma(s), a, b, 0.0))
        else:
            r = (lam(s) - lam(ts[i - 1])) / h
            rows.append((alpha(s), sigma(s), a, b * (1 + 1 / (2 * r)), -b / (2 * r)))
    return ts, rows


K = 8
MEANS = torch.tensor(
    [[4 * math.cos(2 * math.pi * k / K), 4 * math.sin(2 * math.pi * k / K)] for k in range(K)]
)
VARS = torch.full((K, 2), 0.09)
LOGW = torch.full((K,), -math.log(K))


def x0_hat(x, a, s):
    """E[x0 | x_t = x] of the noised mixture, for a batch x of shape (N, 2)."""
    v = a * a * VARS + s * s  # (K, 2)
    r = x[:, None, :] - a * MEANS[None]  # (N, K, 2)
    logp = LOGW - 0.5 * (r * r / v).sum(-1) - 0.5 * torch.log(v).sum(-1)
    resp = torch.softmax(logp, dim=1)  # (N, K)
    cond = MEANS[None] + (a * VARS / v)[None] * r  # (N, K, 2)
    return (resp[:, :, None] * cond).sum(1)


def sample(n, gen, rows, a_T, s_T):
    comp = torch.randint(0, K, (n,), generator=gen)
    sd = torch.sqrt(a_T * a_T * VARS[comp] + s_T * s_T)
    x = a_T * MEANS[comp] + sd * torch.randn(n, 2, generator=gen)
    prev = None
    for a_s, s_s, ca, cb, cc in rows:
        d = x0_hat(x, a_s, s_s)
        x = ca * x + cb * d + (cc * prev if prev is not None else 0.0)
        prev = d
    return x


def main():
    total = int(float(sys.argv[1])) if len(sys.argv) > 1 else 10_000_000
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    batch = 1_000_000
    ts, rows = coefficients(20)
    a_T, s_T = alpha(ts[0]), sigma(ts[0])
    gen = torch.Generator().manual_seed(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {total} samples")
    times = []
    with torch.no_grad():
        for _ in range(repeat):
            start = time.perf_counter()
            m1 = torch.zeros(2, dtype=torch.float64)
            m2 = torch.zeros(2, dtype=torch.float64)
            done = 0
            while done < total:
                n = min(batch, total - done)
                x = sample(n, gen, rows, a_T, s_T).double()
                m1 += x.sum(0)
                m2 += (x * x).sum(0)
                done += n
            times.append(time.perf_counter() - start)
    a0, s0 = alpha(ts[-1]), sigma(ts[-1])
    exact2 = (a0 * a0 * (MEANS.double() ** 2 + 0.09).mean(0) + s0 * s0).tolist()
    print(f"mean {(m1 / total).tolist()} (exact [0, 0]); E[x^2] {(m2 / total).tolist()} (exact {exact2})")
    med = statistics.median(times)
    print(f"median {med:.3f} s over {repeat} runs ({times}); {total / med:.3e} samples/s")


if __name__ == "__main__":
    main()
