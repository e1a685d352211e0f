//! The chaos toolkit: tangents derived from the user's WGSL, and Lyapunov exponents.

mod common;

use throng::chaos::{self, LyapunovOptions};
use throng::{Ensemble, Init, Method, Precision, System, TimeGrid};

#[test]
fn derived_tangents_of_lorenz_print() {
    let job = Ensemble::new(System::builtin("lorenz").unwrap(), 1)
        .job(Method::Rk4, TimeGrid::new(0.0, 0.01, 10))
        .unwrap();
    println!("{}", chaos::derivatives(&job, 1).unwrap());
    let ctx = common::ctx();
    let r = chaos::probe(&ctx, &job, &[(0.0, vec![1.0, 2.0, 3.0], vec![0.5, -1.0, 2.0], 1e-3)]).unwrap();
    println!("{r:?}");
}
