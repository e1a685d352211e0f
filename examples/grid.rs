//! A 2-D parameter grid: Lorenz over 256 x 256 values of (rho, sigma), one trajectory per
//! cell (trajectory i is cell (i mod 256, i / 256)); prints how far each region wanders.
//!
//!     cargo run --release --example grid

use throng::{solve, AdapterChoice, Context, Ensemble, Method, Options, System, TimeGrid};

fn main() -> throng::Result<()> {
    let n = 256u64;
    let ctx = Context::new(&AdapterChoice::default())?;
    let job = Ensemble::new(System::builtin("lorenz")?, n * n)
        .x0(&[1.0, 1.0, 1.0])
        .grid("rho", 0.0, 50.0, n)
        .grid("sigma", 1.0, 20.0, n)
        .job(Method::Rk4, TimeGrid::new(0.0, 0.005, 4000))?;
    let sol = solve(
        &ctx,
        &job,
        &Options {
            keep_states: true,
            ..Default::default()
        },
    )?;
    println!(
        "adapter: {}; {} cells in {:.3} s",
        sol.adapter,
        n * n,
        sol.timing.solve_s
    );
    let z = &sol.states.unwrap()[2 * (n * n) as usize..];
    // Mean z(T) over 8 x 8 blocks of cells: 0 where trajectories die out (rho < 1).
    println!("mean z(T); rows: sigma from 1 (top) to 20, columns: rho from 0 to 50");
    for bs in 0..8 {
        let row: Vec<String> = (0..8)
            .map(|br| {
                let mut s = 0.0;
                for j in 0..32 {
                    for i in 0..32 {
                        let cell = (bs * 32 + j) * n as usize + br * 32 + i;
                        s += z[cell] as f64;
                    }
                }
                format!("{:6.1}", s / 1024.0)
            })
            .collect();
        println!("{}", row.join(" "));
    }
    Ok(())
}
