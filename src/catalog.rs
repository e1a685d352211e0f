//! The catalog: built-in systems, each a spec file in `systems/` written in the same form a
//! user writes. `NAME:N` resizes the systems marked `resizable` (Lorenz-96, Kuramoto).

use std::path::Path;

use crate::error::{Error, Result};
use crate::spec;
use crate::system::{Builtin, System, MAX_DIM};

const SPECS: &[(&str, &str)] = &[
    ("aizawa", include_str!("../systems/aizawa.toml")),
    ("arneodo", include_str!("../systems/arneodo.toml")),
    ("burke_shaw", include_str!("../systems/burke_shaw.toml")),
    ("chen", include_str!("../systems/chen.toml")),
    ("chua", include_str!("../systems/chua.toml")),
    ("cir", include_str!("../systems/cir.toml")),
    ("dadras", include_str!("../systems/dadras.toml")),
    (
        "double_pendulum",
        include_str!("../systems/double_pendulum.toml"),
    ),
    ("double_well", include_str!("../systems/double_well.toml")),
    ("duffing", include_str!("../systems/duffing.toml")),
    (
        "fitzhugh_nagumo",
        include_str!("../systems/fitzhugh_nagumo.toml"),
    ),
    ("gbm", include_str!("../systems/gbm.toml")),
    ("genesio_tesi", include_str!("../systems/genesio_tesi.toml")),
    ("halvorsen", include_str!("../systems/halvorsen.toml")),
    ("henon", include_str!("../systems/henon.toml")),
    ("henon_heiles", include_str!("../systems/henon_heiles.toml")),
    ("heston", include_str!("../systems/heston.toml")),
    ("ikeda", include_str!("../systems/ikeda.toml")),
    ("kuramoto", include_str!("../systems/kuramoto.toml")),
    (
        "kuramoto_noisy",
        include_str!("../systems/kuramoto_noisy.toml"),
    ),
    ("langevin", include_str!("../systems/langevin.toml")),
    ("linear", include_str!("../systems/linear.toml")),
    ("logistic", include_str!("../systems/logistic.toml")),
    ("lorenz", include_str!("../systems/lorenz.toml")),
    ("lorenz84", include_str!("../systems/lorenz84.toml")),
    ("lorenz96", include_str!("../systems/lorenz96.toml")),
    ("lu", include_str!("../systems/lu.toml")),
    ("nose_hoover", include_str!("../systems/nose_hoover.toml")),
    ("ou", include_str!("../systems/ou.toml")),
    (
        "rabinovich_fabrikant",
        include_str!("../systems/rabinovich_fabrikant.toml"),
    ),
    ("rossler", include_str!("../systems/rossler.toml")),
    ("rucklidge", include_str!("../systems/rucklidge.toml")),
    (
        "shimizu_morioka",
        include_str!("../systems/shimizu_morioka.toml"),
    ),
    ("sprott_b", include_str!("../systems/sprott_b.toml")),
    ("standard_map", include_str!("../systems/standard_map.toml")),
    (
        "stochastic_lorenz",
        include_str!("../systems/stochastic_lorenz.toml"),
    ),
    (
        "stochastic_van_der_pol",
        include_str!("../systems/stochastic_van_der_pol.toml"),
    ),
    ("tent", include_str!("../systems/tent.toml")),
    ("thomas", include_str!("../systems/thomas.toml")),
    ("van_der_pol", include_str!("../systems/van_der_pol.toml")),
];

/// Names of the catalog systems, in alphabetical order.
pub fn names() -> Vec<&'static str> {
    SPECS.iter().map(|s| s.0).collect()
}

/// The spec text of a catalog system.
pub fn spec_text(name: &str) -> Option<&'static str> {
    SPECS.iter().find(|s| s.0 == name).map(|s| s.1)
}

/// A catalog system by name, or `NAME:N` for a resizable one with N components.
pub fn get(name: &str) -> Result<System> {
    let (base, n) = match name.split_once(':') {
        Some((b, n)) => {
            let n: usize = n.parse().map_err(|_| Error::Input {
                what: name.to_string(),
                message: format!("`{name}`: expected NAME:N with N a number"),
            })?;
            (b, Some(n))
        }
        None => (name, None),
    };
    let text = spec_text(base)
        .ok_or_else(|| Error::UnknownSystem(base.to_string(), names().join(", ")))?;
    let (mut sys, _) = spec::parse(text, &format!("systems/{base}.toml"), Path::new("systems"))?;
    // The Rust twin of a catalog system at its own size: attached here only, never by a spec.
    sys.twin = Builtin::parse(base);
    if let Some(n) = n {
        if !sys.resizable {
            return Err(Error::Input {
                what: name.to_string(),
                message: format!(
                    "system `{base}` has a fixed dimension; `{base}:N` applies to resizable systems"
                ),
            });
        }
        if !(2..=MAX_DIM).contains(&n) {
            return Err(Error::Limit {
                what: "state components".into(),
                got: n as u64,
                max: MAX_DIM as u64,
                message: format!("`{name}`: N must be between 2 and {MAX_DIM}"),
            });
        }
        let prefix = sys.state[0]
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_string();
        sys.state = (0..n).map(|i| format!("{prefix}{i}")).collect();
        if let Some(x0) = &sys.defaults.x0 {
            sys.defaults.x0 = Some((0..n).map(|i| x0[i % x0.len()]).collect());
        }
        sys.name = name.to_string();
        sys.check()?;
    }
    Ok(sys)
}

/// Every catalog system at its default size.
pub fn all() -> Vec<System> {
    names()
        .into_iter()
        .map(|n| get(n).expect("catalog specs parse"))
        .collect()
}

impl System {
    /// A built-in or catalog system by name.
    pub fn builtin(name: &str) -> Result<System> {
        get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_systems_is_in_the_catalog_and_parses() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/systems");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .trim_end_matches(".toml")
                    .to_string()
            })
            .collect();
        files.sort();
        assert_eq!(files, names());
        assert!(names().len() >= 30);
        for s in all() {
            assert!(
                !s.description.is_empty() && !s.reference.is_empty(),
                "{}",
                s.name
            );
            assert!(
                s.defaults.x0.is_some() && s.defaults.dt.is_some() && s.defaults.method.is_some(),
                "{}",
                s.name
            );
        }
    }

    #[test]
    fn resizable_systems_take_a_dimension() {
        let s = get("lorenz96:12").unwrap();
        assert_eq!(s.dim(), 12);
        assert_eq!(s.state[11], "x11");
        assert!(get("lorenz:5").is_err());
        assert!(get("kuramoto:17").is_err());
    }
}
