"""throng from Python: ensembles of ODE/SDE trajectories on any GPU (or on the CPU through
Mesa's lavapipe), statistics computed on the device, results as NumPy arrays.

    import throng
    r = throng.run("gbm", paths=1_000_000, steps=256, t1=1, x0=[100],
                   params={"mu": 0.05, "sigma": 0.2}, save_every=8, quantiles=[0.05, 0.5, 0.95])
    r.mean[-1], r.quantiles[-1], r.summary["terminal"]

Keyword arguments are the command line's flags (and a spec's ``[run]`` keys) with
underscores: ``paths``, ``steps``, ``dt``, ``t1``, ``method``, ``precision``, ``seed``,
``x0``, ``params={...}``, ``sweep={"rho": (0, 50)}``, ``logsweep``, ``grid={"rho": (0, 50, 64)}``,
``replicas``, ``values={"k": "k.npy"}``, ``init``, ``save_every``, ``save_at``,
``hist={"x": (0, 4, 32)}``, ``quantiles``, ``keep_paths``, ``keep_every``, ``chunk``, ``lanes``,
``rtol``, ``atol``, ``brownian`` … Errors raise :class:`ThrongError` with throng's one-line
message (a WGSL error keeps the user's line:column).
"""

import json
import math

import numpy as np

from ._throng import ThrongError, __version__
from ._throng import run as _run

__all__ = ["run", "Result", "ThrongError", "__version__"]


def _value(v):
    """A Python value as TOML."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if not math.isfinite(v):
            raise ThrongError(f"arguments: {v} is not a finite number")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise ThrongError(f"arguments: cannot pass a {type(v).__name__} ({v!r})")


def _request(options):
    lines = []
    for k, v in options.items():
        if v is None:
            continue
        lines.append(f"{k} = {_value(v)}")
    return "\n".join(lines)


class Result:
    """A finished run: ``summary`` (the CLI's ``--json`` object, as a dict) and its arrays,
    as attributes and in ``arrays``: ``t``, ``count``, ``nonfinite``, ``mean``, ``var``,
    ``min``, ``max`` (save time × row), ``hist`` (a list of save time × (bins + 2) counts),
    ``quantiles`` (save time × row × level), ``paths`` (save time × kept path × component),
    and with ``replicas`` ``point_mean`` … (save time × point × row)."""

    def __init__(self, summary, arrays):
        self.summary = summary
        self.arrays = arrays
        k, hist = 0, []
        while f"hist{k}" in arrays:
            hist.append(arrays[f"hist{k}"])
            k += 1
        self.hist = hist

    @property
    def rows(self):
        """The names of the rows of ``mean``, ``var`` …: state components, then functionals."""
        return self.summary.get("rows", [])

    def __getattr__(self, name):
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(f"this run has no {name!r} (it has {', '.join(sorted(arrays))})")

    def __repr__(self):
        s = self.summary
        return (f"<throng.Result {s.get('system')} {s.get('method')} {s.get('paths')} paths, "
                f"arrays {', '.join(sorted(self.arrays))}>")


def run(system=None, *, spec=None, cpu=False, **options):
    """Runs an ensemble and returns a :class:`Result`.

    ``system`` is a catalog name (``"gbm"``, ``"lorenz"``, ``"lorenz96:8"`` …, see
    ``throng systems``); or give ``spec``, a spec file's path or a spec's TOML text (with
    ``[system]`` and its WGSL). ``cpu=True`` runs the CPU twin. The GIL is released while
    the ensemble integrates; Ctrl-C cancels it (KeyboardInterrupt)."""
    spec_path = spec_text = None
    if spec is not None:
        if "\n" in str(spec):
            spec_text = str(spec)
        else:
            spec_path = str(spec)
    summary, arrays = _run(system, spec_path, spec_text, _request(options), bool(cpu))
    out = {}
    for name, dtype, shape, data in arrays:
        out[name] = np.frombuffer(data, dtype=dtype).reshape(shape)
    return Result(json.loads(summary), out)
