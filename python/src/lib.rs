//! `throng._throng`: the Rust half of the Python package. `run` takes a system (a catalog
//! name, a spec file or a spec's text) and a `[run]` table as TOML (the wrapper in
//! `throng/__init__.py` writes it from keyword arguments), solves with the GIL released
//! (Ctrl-C cancels), and returns the summary as JSON and every array as (name, dtype,
//! shape, bytes), which the wrapper turns into NumPy arrays without a copy.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyByteArray;
use serde_json::Value as Json;
use throng::output::{Column, Sink};
use throng::spec::RunRequest;
use throng::{Error, Job, Options, Solution};

pyo3::create_exception!(_throng, ThrongError, PyException);

fn fail(e: Error) -> PyErr {
    ThrongError::new_err(e.to_string().replace('\n', " "))
}

/// Arrays kept in memory: (name, NumPy dtype, shape, little-endian bytes).
#[derive(Default)]
struct Memory(Vec<(String, &'static str, Vec<u64>, Vec<u8>)>);

impl Sink for Memory {
    fn array(&mut self, name: &str, shape: &[u64], data: Column) -> throng::Result<Json> {
        let (dtype, bytes) = match data {
            Column::F64(d) => ("<f8", d.iter().flat_map(|v| v.to_le_bytes()).collect()),
            Column::U64(d) => ("<u8", d.iter().flat_map(|v| v.to_le_bytes()).collect()),
        };
        self.0.push((name.into(), dtype, shape.to_vec(), bytes));
        Ok(serde_json::json!({ "shape": shape }))
    }
}

type Prepared = (Job, serde_json::Map<String, Json>, Options);

/// The job a call asks for: exactly one of `system`, `spec` (a path) or `spec_text`.
fn prepare(
    system: Option<String>,
    spec: Option<String>,
    spec_text: Option<String>,
    request: &str,
) -> Result<Prepared, Error> {
    let flags: RunRequest = toml::from_str(request).map_err(|e| Error::Input {
        what: "arguments".into(),
        message: format!("arguments: {}", e.message()),
    })?;
    match spec_text {
        Some(text) if system.is_none() && spec.is_none() => {
            let here = std::env::current_dir().unwrap_or_default();
            let (sys, run) = throng::spec::parse(&text, "<spec>", &here)?;
            let req = run.unwrap_or_default().merge(flags);
            let (job, params) = throng::request::job(&sys, &req)?;
            let opts = throng::request::options(&req, &job)?;
            Ok((job, params, opts))
        }
        Some(_) => Err(Error::Input {
            what: "system".into(),
            message: "give a system or a spec, not both".into(),
        }),
        None => throng::request::prepare(&system, &spec.map(PathBuf::from), flags),
    }
}

/// What the solving thread sends back.
type Solved = Result<(Solution, f64), Error>;

#[pyfunction]
#[pyo3(signature = (system=None, spec=None, spec_text=None, request="", cpu=false))]
#[allow(clippy::type_complexity)]
fn run(
    py: Python<'_>,
    system: Option<String>,
    spec: Option<String>,
    spec_text: Option<String>,
    request: &str,
    cpu: bool,
) -> PyResult<(String, Vec<(String, String, Vec<u64>, Py<PyByteArray>)>)> {
    let (job, params, mut opts) = prepare(system, spec, spec_text, request).map_err(fail)?;
    let cancel = Arc::new(AtomicBool::new(false));
    opts.cancel = Some(cancel.clone());
    let (tx, rx) = mpsc::channel::<Solved>();
    // Waited on without the GIL, from this thread only.
    let rx = std::sync::Mutex::new(rx);
    let (job2, opts2) = (job.clone(), opts.clone());
    // The solve runs on its own thread; this one waits without the GIL and looks for
    // Ctrl-C (Python's signal handlers run on the main thread) every 100 ms.
    let worker = std::thread::spawn(move || {
        let solved = if cpu {
            throng::cpu::solve(&job2, &opts2).map(|s| (s, 0.0))
        } else {
            let start = Instant::now();
            throng::Context::new(&Default::default()).and_then(|ctx| {
                let device_s = start.elapsed().as_secs_f64();
                throng::solve(&ctx, &job2, &opts2).map(|s| (s, device_s))
            })
        };
        let _ = tx.send(solved);
    });
    let solved = loop {
        let next = py.detach(|| {
            let rx = rx.lock().expect("one waiter");
            rx.recv_timeout(Duration::from_millis(100))
        });
        match next {
            Ok(s) => break s,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(interrupt) = py.check_signals() {
                    cancel.store(true, Ordering::SeqCst);
                    let _ = py.detach(|| worker.join());
                    return Err(interrupt);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(ThrongError::new_err(
                    "the solving thread ended without a result",
                ))
            }
        }
    };
    let _ = worker.join();
    let (sol, device_s) = solved.map_err(fail)?;
    let report = throng::report::Report {
        job: &job,
        sol: &sol,
        params,
        quantile_levels: &opts.save_at.quantiles,
        device_s,
    };
    let mut summary = report.json();
    let mut memory = Memory::default();
    let files =
        throng::output::arrays(&mut memory, &sol, job.grid.t1(), job.grid.steps).map_err(fail)?;
    summary["files"] = files;
    let arrays = memory
        .0
        .into_iter()
        .map(|(name, dtype, shape, bytes)| {
            (
                name,
                dtype.to_string(),
                shape,
                PyByteArray::new(py, &bytes).unbind(),
            )
        })
        .collect();
    Ok((summary.to_string(), arrays))
}

#[pymodule]
fn _throng(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add("ThrongError", m.py().get_type::<ThrongError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
