//! Integration tests of wardstream-storage, one binary (ripgrep style): the store writes real
//! files into a temp directory and the query session reads them back through DataFusion.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod dead_letters;
mod files;
mod output;
mod pipeline;
mod rotation;
mod round_trip;
mod session;
