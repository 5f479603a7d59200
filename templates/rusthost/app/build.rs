//! Links the C static library ppm built for this target. ppm names each needed component's
//! output directory in PPM_DEP_<NAME>; a plain `cargo build` has none, and says so.
use std::env;

fn dep(name: &str) -> String {
    let var = format!("PPM_DEP_{name}");
    println!("cargo:rerun-if-env-changed={var}");
    env::var(&var).unwrap_or_else(|_| panic!("{var} is not set: build this crate with `ppm build`"))
}

fn main() {
    let cmath = dep("CMATH");
    println!("cargo:rustc-link-search=native={cmath}");
    println!("cargo:rustc-link-lib=static=cmath");
    println!("cargo:rerun-if-changed={cmath}/libcmath.a");
    dep("UI"); // include_bytes! tracks the files themselves
}
