//! wardstream's benchmarks live in `benches/` (criterion, `harness = false`); this library is
//! empty and exists so that the package has a target besides them. See `BENCHMARKS.md`.
