//! `conformance`: runs seeded HAMMER I/O workloads through the Rust port
//! and the original C hammer_io.c in the hosted environment and compares
//! their traces. See `hammer_io::hosted::conformance` and `--help`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(hammer_io::hosted::conformance::main(args));
}
