//! The flags of `throng run` that describe the run: they fill a `RunRequest`, the type a
//! spec's `[run]` table fills, with the same value forms (the library's `spec::form`).

use throng::spec::form::{parse, setting};
use throng::spec::{Axis, Range, RunRequest, Setting, ValuesFile};
use throng::{Init, Method, Precision};

/// A comma-separated list, one flag value. An alias because clap's derive reads
/// `Option<Vec<_>>` as a repeatable flag.
type Reals = Vec<f64>;

#[derive(clap::Args)]
pub struct RequestArgs {
    #[arg(long, value_parser = parse::<Method>,
          help = format!("Method: {}; default: the system's", super::method_names()))]
    method: Option<Method>,
    /// Precision of states, parameters and arithmetic: f32 (default) or f64 (needs SHADER_F64)
    #[arg(long, value_parser = parse::<Precision>)]
    precision: Option<Precision>,
    /// dopri5: relative tolerance (default 1e-6)
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<f64>)]
    rtol: Option<f64>,
    /// dopri5: absolute tolerance (default 1e-6)
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<f64>)]
    atol: Option<f64>,
    /// dopri5: smallest step; a step this short is accepted whatever its error (default 0)
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<f64>)]
    dt_min: Option<f64>,
    /// dopri5: largest step (default: no limit but the interval)
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<f64>)]
    dt_max: Option<f64>,
    /// dopri5: steps (accepted + rejected) per trajectory before it is reported unfinished (default 100000)
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<u32>)]
    max_steps: Option<u32>,
    /// Number of trajectories (default: the spec's, or the grid's size); with --replicas, of points
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<u64>)]
    paths: Option<u64>,
    /// R trajectories per sweep or grid point, with statistics of each point (trajectory
    /// point * R + replica)
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<u64>)]
    replicas: Option<u64>,
    /// Number of steps (dopri5: the first step is (t1 - t0) / steps; default 100)
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<u64>)]
    steps: Option<u64>,
    /// Step size (default: --t1, the spec's, or the system's)
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<f64>)]
    dt: Option<f64>,
    /// End time; dt = (t1 - t0) / steps
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<f64>)]
    t1: Option<f64>,
    /// Start time
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<f64>)]
    t0: Option<f64>,
    /// Initial state, comma-separated (default: the system's)
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<Reals>)]
    x0: Option<Reals>,
    /// Parameter value NAME=VALUE (repeatable); x0.NAME sets one initial component
    #[arg(long = "param", allow_hyphen_values = true, value_parser = setting::<f64>)]
    params: Vec<Setting<f64>>,
    /// Linear sweep NAME=LO:HI across the ensemble (repeatable)
    #[arg(long = "sweep", allow_hyphen_values = true, value_parser = setting::<Range>)]
    sweeps: Vec<Setting<Range>>,
    /// Geometric sweep NAME=LO:HI (LO, HI > 0)
    #[arg(long = "logsweep", allow_hyphen_values = true, value_parser = setting::<Range>)]
    logsweeps: Vec<Setting<Range>>,
    /// Grid axis NAME=LO:HI:N (repeatable; the first axis varies fastest; paths = product of N)
    #[arg(long = "grid", allow_hyphen_values = true, value_parser = setting::<Axis>)]
    grids: Vec<Setting<Axis>>,
    /// Per-trajectory values NAME=FILE.npy or NAME=FILE.csv[:COLUMN]
    #[arg(long = "values", value_parser = setting::<ValuesFile>)]
    values: Vec<Setting<ValuesFile>>,
    /// Random initial states around x0: normal:S1,S2,.. or uniform:W1,W2,.. (one per component)
    #[arg(long, value_parser = parse::<Init>)]
    init: Option<Init>,
    /// Seed of the noise (u64)
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<u64>)]
    seed: Option<u64>,
    /// At most this many trajectories per chunk (rounded down to a multiple of 256)
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<u64>)]
    chunk: Option<u64>,
    /// Trajectories per invocation: 1, 2 or 4 (default 4)
    #[arg(long, value_parser = parse::<u32>)]
    lanes: Option<u32>,
    /// Statistics every K steps (and at the end), computed on the device
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<u64>)]
    save_every: Option<u64>,
    /// Also save at these times (comma-separated; each on the step grid)
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<Reals>)]
    save_at: Option<Reals>,
    /// Kept paths are trajectories 0, J, 2J, … (default 1)
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<u64>)]
    keep_every: Option<u64>,
    /// Histogram NAME=LO:HI:BINS of a state component at every save time (repeatable)
    #[arg(long = "hist", allow_hyphen_values = true, value_parser = setting::<Axis>)]
    hists: Vec<Setting<Axis>>,
    /// Quantile levels, comma-separated (e.g. 0.01,0.5,0.99), of every component at every save time
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<Reals>)]
    quantiles: Option<Reals>,
    /// Keep the states of the first K trajectories at every save time (for plotting)
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<u64>)]
    keep_paths: Option<u64>,
    /// At most N steps per dispatch (keeps each dispatch short on a display GPU)
    #[arg(long, allow_hyphen_values = true, value_parser = parse::<u64>)]
    dispatch_steps: Option<u64>,
    /// Fuse the save-time observers into the integration kernel: true (or an error saying
    /// why not) or false; by default wherever the run and device allow. Results do not
    /// depend on it
    #[arg(long, value_parser = parse::<bool>)]
    fuse: Option<bool>,
    /// Where SDE step normals come from: stream (default) or tree, one Brownian path per
    /// trajectory whatever the number of steps 2^m (README, "Noise")
    #[arg(long, value_parser = parse::<throng::noise::Brownian>)]
    brownian: Option<throng::noise::Brownian>,
}

impl RequestArgs {
    /// The request these flags make (`[run]` keys are named as in the library).
    pub fn into_request(self) -> RunRequest {
        RunRequest {
            method: self.method,
            precision: self.precision,
            rtol: self.rtol,
            atol: self.atol,
            dt_min: self.dt_min,
            dt_max: self.dt_max,
            max_steps: self.max_steps,
            paths: self.paths,
            replicas: self.replicas,
            steps: self.steps,
            dt: self.dt,
            t1: self.t1,
            t0: self.t0,
            seed: self.seed,
            x0: self.x0,
            params: self.params,
            sweep: self.sweeps,
            logsweep: self.logsweeps,
            grid: self.grids,
            values: self.values,
            init: self.init,
            save_every: self.save_every,
            save_at: self.save_at,
            hist: self.hists,
            quantiles: self.quantiles,
            keep_paths: self.keep_paths,
            keep_every: self.keep_every,
            chunk: self.chunk,
            lanes: self.lanes,
            dispatch_steps: self.dispatch_steps,
            fuse: self.fuse,
            brownian: self.brownian,
        }
    }
}
