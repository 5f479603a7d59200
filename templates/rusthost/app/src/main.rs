//! {{name}}: a Rust host. The UI (index.html, ui.js, ui.css) is embedded with include_bytes!;
//! the C library is linked statically by build.rs.
//!
//!   {{name}}                one line per language
//!   {{name}} --self-check   exit 0 if every component answers correctly

use std::process::ExitCode;

const UI: [(&str, &[u8]); 3] = [
    ("index.html", include_bytes!(concat!(env!("PPM_DEP_UI"), "/index.html"))),
    ("ui.js", include_bytes!(concat!(env!("PPM_DEP_UI"), "/ui.js"))),
    ("ui.css", include_bytes!(concat!(env!("PPM_DEP_UI"), "/ui.css"))),
];

extern "C" {
    fn cmath_gcd(a: u64, b: u64) -> u64;
    fn cmath_count_primes(n: u32) -> u32;
}

fn fibonacci(n: u32) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        let next = a.saturating_add(b);
        a = b;
        b = next;
    }
    a
}

fn rust() -> Result<String, String> {
    match fibonacci(20) {
        6765 => Ok(format!("fibonacci(20) = 6765 ({}/{})", std::env::consts::OS, std::env::consts::ARCH)),
        n => Err(format!("fibonacci(20) = {n}, expected 6765")),
    }
}

fn c() -> Result<String, String> {
    // SAFETY: plain functions of integers, linked from the C component.
    let (gcd, primes) = unsafe { (cmath_gcd(1071, 462), cmath_count_primes(100)) };
    if gcd != 21 || primes != 25 {
        return Err(format!("gcd = {gcd}, primes = {primes}; expected 21 and 25"));
    }
    Ok(format!("gcd(1071, 462) = {gcd}, primes up to 100 = {primes}"))
}

fn typescript() -> Result<String, String> {
    let total: usize = UI.iter().map(|(_, b)| b.len()).sum();
    if UI.iter().any(|(_, b)| b.is_empty()) {
        return Err("an embedded UI file is empty".into());
    }
    Ok(format!("ui bundle {total} bytes (index.html, ui.js, ui.css)"))
}

fn main() -> ExitCode {
    let checks: [(&str, &str, fn() -> Result<String, String>); 3] =
        [("rust", "app", rust), ("c", "cmath", c), ("typescript", "ui", typescript)];
    let self_check = std::env::args().nth(1).as_deref() == Some("--self-check");
    let mut failed = false;
    for (language, component, check) in checks {
        match (check(), self_check) {
            (Ok(line), false) => println!("{language}: {line}"),
            (Ok(_), true) => println!("ok    {component}"),
            (Err(e), false) => { println!("{language}: error: {e}"); failed = true }
            (Err(e), true) => { println!("FAIL  {component}: {e}"); failed = true }
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
