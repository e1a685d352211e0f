//! `throng systems`: the catalog as a table, or one system's spec and WGSL.

use throng::{Error, System};

pub fn systems(name: Option<String>) -> Result<(), Error> {
    match name {
        Some(name) => show(&name),
        None => {
            list();
            Ok(())
        }
    }
}

fn show(name: &str) -> Result<(), Error> {
    let sys = System::builtin(name)?;
    // `lorenz96:5` is written in lorenz96's spec.
    let base = name.split(':').next().unwrap_or(name);
    println!("# {}: {}", sys.name, sys.description);
    println!(
        "# dimension {}, noise {}, {} Wiener process(es)",
        sys.dim(),
        sys.noise.name(),
        sys.noise_channels()
    );
    println!("{}", throng::catalog::spec_text(base).unwrap_or(""));
    Ok(())
}

fn list() {
    println!(
        "{:<24} {:>3} {:<11} {:<54} description",
        "name", "dim", "noise", "parameters (defaults)"
    );
    for s in throng::catalog::all() {
        let params: Vec<String> = s.params.iter().map(|(n, v)| format!("{n}={v}")).collect();
        println!(
            "{:<24} {:>3} {:<11} {:<54} {}",
            s.name,
            s.dim(),
            s.noise.name(),
            params.join(" "),
            s.description
        );
    }
}
