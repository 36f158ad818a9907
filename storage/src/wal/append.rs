//! The producer side of the log: framing a record, rotating segments, writing it into the
//! active segment (no fsync; the sync thread makes it durable), and recovering from a failed
//! write so that no half-written record is left that could be replayed.

use std::os::unix::fs::FileExt;
use std::sync::{Arc, PoisonError};

use super::commit::{Shared, State};
use super::error::{Lsn, WalError};
use super::fault::IoOp;
use super::record::{HEADER_BYTES, MAX_BODY_BYTES, encode_record};
use super::segment::ActiveSegment;

/// Most closed segments waiting for their fsync before appends block.
const MAX_UNSYNCED_SEGMENTS: usize = 8;

/// Appends one record under the state lock. See [`Wal::append`](super::Wal::append).
pub(crate) fn append(shared: &Shared, body: &[u8]) -> Result<Lsn, WalError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(WalError::RecordTooLarge { len: body.len(), max: MAX_BODY_BYTES });
    }
    let mut guard = shared.lock();
    // Back-pressure: producers that do not wait for durability may not run more than a few
    // segments ahead of the fsyncs (each unsynced segment also holds a file descriptor).
    while guard.sealed.len() >= MAX_UNSYNCED_SEGMENTS && guard.thread_alive && !guard.closing && !guard.stop_now {
        shared.stats.count_backpressure_wait();
        guard = shared.settled.wait(guard).unwrap_or_else(PoisonError::into_inner);
    }
    let state = &mut *guard;
    if state.closing || state.stop_now {
        return Err(WalError::Closed);
    }
    if !state.thread_alive {
        return Err(WalError::SyncThreadStopped);
    }
    let lsn = state.next_lsn;
    if lsn == Lsn::MAX {
        return Err(WalError::LsnExhausted); // only a hand-made segment name can get here
    }
    let record_len = (HEADER_BYTES + body.len()) as u64;
    let rotate = state.active.as_ref().is_none_or(|a| a.len > 0 && a.len + record_len > shared.config.segment_bytes);
    if rotate {
        start_segment(shared, state, lsn)?;
    }
    let State { scratch, active, .. } = state;
    let Some(segment) = active.as_mut() else {
        return Err(WalError::Closed); // unreachable: start_segment set it or returned an error
    };
    scratch.clear();
    encode_record(scratch, lsn, body);
    let written =
        shared.faults.check(IoOp::Write, &segment.path).and_then(|()| segment.file.write_all_at(scratch, segment.len));
    match written {
        Ok(()) => {
            segment.len += scratch.len() as u64;
            shared.stats.count_append(scratch.len());
            state.next_lsn += 1;
            state.written_lsn = lsn;
            if state.sync_idle {
                shared.work.notify_one();
            }
            Ok(lsn)
        }
        Err(error) => {
            let error = WalError::io("write", &segment.path, error);
            shared.stats.count_io_error();
            tracing::error!(%error, lsn, "WAL write failed; the record was not appended");
            recover_from_failed_write(shared, state, lsn);
            Err(error)
        }
    }
}

/// Seals the active segment (if any) and creates the segment whose first LSN is `lsn`.
fn start_segment(shared: &Shared, state: &mut State, lsn: Lsn) -> Result<(), WalError> {
    let segment = ActiveSegment::create(&shared.config.dir, lsn, &shared.faults).inspect_err(|error| {
        shared.stats.count_io_error();
        tracing::error!(%error, lsn, "could not create a WAL segment; the record was not appended");
    })?;
    if let Some(old) = state.active.replace(segment)
        && old.synced_len < old.len
    {
        state.sealed.push(old);
    }
    if state.segments.last().is_none_or(|(first, _)| *first != lsn) {
        state.segments.push((lsn, shared.config.dir.join(super::segment::segment_name(lsn))));
    }
    state.dir_dirty = true;
    shared.stats.count_segment_created();
    Ok(())
}

/// A write of record `lsn` failed, perhaps after writing part of it: cut the segment back to
/// the end of its last whole record. If even that fails, the partial record stays at the
/// segment's tail (replay will cut it as a torn tail), so the segment is sealed, never
/// appended to again, and `lsn` is skipped (marked failed) to keep LSNs dense per segment.
fn recover_from_failed_write(shared: &Shared, state: &mut State, lsn: Lsn) {
    let Some(segment) = state.active.as_mut() else { return };
    let good = segment.len;
    if let Err(error) = segment.truncate(good, &shared.faults) {
        shared.stats.count_io_error();
        tracing::error!(%error, "could not cut a partial WAL record; abandoning the segment");
        if let Some(old) = state.active.take() {
            state.sealed.push(old);
        }
        state.failed.insert(lsn, lsn, Arc::from("write failed and the partial record could not be cut"));
        state.next_lsn = lsn + 1;
        if state.sync_idle {
            shared.work.notify_one();
        }
    }
}
