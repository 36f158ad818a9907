//! wardstream's benchmarks: the criterion benchmarks of each hot-path stage live in `benches/`
//! (`harness = false`); the end-to-end load harness behind the `load` binary lives in [`load`].
//! See `BENCHMARKS.md` for the figures and how they were taken.

pub mod dataset;
pub mod load;
pub mod stages;
