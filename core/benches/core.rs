//! Benchmarks of the core's hot paths.
fn main() {}
