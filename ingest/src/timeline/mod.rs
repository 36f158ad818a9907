//! Patient timelines: every reading of a patient between two times, from memory and Parquet.
//!
//! The rule (one function for the timeline API, FHIR and the live page): a patient's readings are
//! the readings of each device over each interval the current association snapshot gives for that
//! patient (`AssociationSnapshot::patient_intervals`). SQL over `vitals` attributes readings with
//! the same snapshot (the `patient_at` function), so the three agree on every reading's patient.
//!
//! - [`reading`]: [`TimelineReading`], what one entry of a timeline carries.
//! - [`cold`]: the Parquet part, one DataFusion query for all of a patient's device ranges.
//! - [`merge`]: the recent part from the [`HotStore`](wardstream_pipeline::HotStore), merged with
//!   the Parquet part: a reading held in both (written and still recent) appears once.

pub mod cold;
pub mod merge;
pub mod reading;

pub use merge::{DeviceSpan, TimelineQuery, patient_timeline};
pub use reading::TimelineReading;
