"""The Python package against the command line: the same job gives the same numbers, bit
for bit; bad arguments raise ThrongError with throng's message."""

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import throng

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("THRONG_BIN", str(ROOT / "target" / "release" / "throng"))


def cli(*args, out=None):
    cmd = [BIN, "run", *args, "--json", "-q"]
    if out:
        cmd += ["--out", str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "XDG_RUNTIME_DIR": "/tmp"})
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_gbm_statistics_equal_the_cli_bit_for_bit():
    r = throng.run("gbm", paths=100_000, steps=64, t1=1, x0=[1], params={"mu": 0.05, "sigma": 0.2},
                   seed=7, save_every=16, quantiles=[0.05, 0.5, 0.95], hist={"x": (0, 4, 32)},
                   keep_paths=8)
    with tempfile.TemporaryDirectory() as d:
        j = cli("--system", "gbm", "--paths", "100000", "--steps", "64", "--t1", "1", "--x0", "1",
                "--param", "mu=0.05", "--param", "sigma=0.2", "--seed", "7", "--save-every", "16",
                "--quantiles", "0.05,0.5,0.95", "--hist", "x=0:4:32", "--keep-paths", "8", out=d)
        for name in ["t", "count", "nonfinite", "mean", "var", "min", "max", "hist0", "quantiles",
                     "quantile_resolution", "paths"]:
            want = np.load(Path(d) / f"{name}.npy")
            got = r.arrays[name]
            assert got.dtype == want.dtype and got.shape == want.shape, name
            assert np.array_equal(got, want), name
    assert r.summary["terminal"] == j["terminal"]
    assert r.mean[-1, 0] == j["terminal"]["mean"][0]
    assert r.mean.shape == (4, 1) and r.quantiles.shape == (4, 1, 3) and r.paths.shape == (4, 8, 1)
    assert len(r.hist) == 1 and r.hist[0].shape == (4, 34) and r.hist[0][-1].sum() == 100_000
    assert r.rows == ["x"]
    r.mean[0, 0] = 0.0  # the arrays are the caller's, writable


def test_a_sweep_with_replicas_gives_per_point_arrays():
    r = throng.run("lorenz", paths=8, replicas=64, sweep={"rho": (0, 40)}, steps=200,
                   init="normal:1,1,1", seed=3)
    assert r.point_mean.shape == (1, 8, 3)
    assert (r.point_count == 64).all()
    j = cli("--system", "lorenz", "--paths", "8", "--replicas", "64", "--sweep", "rho=0:40",
            "--steps", "200", "--init", "normal:1,1,1", "--seed", "3")
    assert r.summary["terminal"] == j["terminal"]


def test_a_spec_as_a_string_and_its_wgsl_errors_keep_the_users_line():
    spec = """name = "decay"
state = ["x"]
noise = "none"
wgsl = '''
fn drift(t: F, x: S, p: Params) -> S {
    return S(-p.k * x[0]);
}
'''

[params]
k = 1.5
"""
    r = throng.run(spec=spec, paths=1000, steps=100, t1=1, x0=[2.0], method="rk4")
    assert abs(r.mean[-1, 0] - 2.0 * np.exp(-1.5)) < 1e-5
    bad = spec.replace("-p.k * x[0]", "-p.kk * x[0]")
    with pytest.raises(throng.ThrongError) as e:
        throng.run(spec=bad, paths=1000, steps=100, t1=1)
    assert "<spec>:6:" in str(e.value) and "kk" in str(e.value)


def test_bad_arguments_raise_with_throngs_message():
    with pytest.raises(throng.ThrongError, match="paths"):
        throng.run("gbm", paths=0, steps=10, t1=1)
    with pytest.raises(throng.ThrongError, match="unknown field `pathz`"):
        throng.run("gbm", pathz=10, steps=10, t1=1)
    with pytest.raises(throng.ThrongError, match="unknown system"):
        throng.run("gmb", paths=10, steps=10, t1=1)
    with pytest.raises(throng.ThrongError, match="method"):
        throng.run("gbm", paths=1000, steps=10, t1=1, method="rk5")


def test_the_cpu_twin():
    a = throng.run("ou", paths=4096, steps=32, t1=1, seed=1, cpu=True)
    b = throng.run("ou", paths=4096, steps=32, t1=1, seed=1)
    assert a.summary["adapter"] == "cpu twin"
    assert np.allclose(a.mean, b.mean, rtol=1e-5, atol=1e-6)


def test_the_gil_is_released_while_solving():
    import threading
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(1)
            done.wait(0.01)

    t = threading.Thread(target=count)
    t.start()
    throng.run("gbm", paths=2_000_000, steps=256, t1=1)
    done.set()
    t.join()
    # The solve takes about a second here; a thread holding no GIL would have ticked ~100 times.
    assert len(ticks) > 20, len(ticks)


def test_ctrl_c_cancels_a_run():
    import signal
    import sys
    import time
    # Chunks of 2^20 paths x 64 steps: a dispatch is about 0.1 s here, the run about 10 s.
    # Python keeps SIGINT ignored if its parent ignored it (a background job's children do):
    # the child installs the usual KeyboardInterrupt handler itself.
    code = ("import signal, throng; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "throng.run('gbm', paths=150_000_000, steps=64, t1=1, chunk=1 << 20)")
    p = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "XDG_RUNTIME_DIR": "/tmp"})
    time.sleep(4)
    start = time.time()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode != 0
    assert "KeyboardInterrupt" in err, err
    # Cancelled between dispatches, well before the run would end.
    assert time.time() - start < 3, time.time() - start
