//! Photo benchmark (written below).
fn main() {}
