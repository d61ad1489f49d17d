//! Login benchmarks (being written).

fn main() {}
