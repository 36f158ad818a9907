//! Half-open intervals `[start, end)` and the few operations the snapshot is built from:
//! [`sweep`] (overlapping pieces → segments with a constant covering set), [`overlay`] of
//! sorted non-overlapping lists, and [`merge_adjacent`].
//!
//! An open end is [`OPEN`] (`Micros::MAX`): no time a reading can carry reaches it.

use crate::time::Micros;

/// The end of an interval that has not ended.
pub(crate) const OPEN: Micros = Micros::MAX;

/// A value over `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Piece<T> {
    /// First instant covered.
    pub start: Micros,
    /// First instant no longer covered ([`OPEN`] when it has not ended).
    pub end: Micros,
    /// What holds over the interval.
    pub value: T,
}

impl<T> Piece<T> {
    /// A piece; callers skip empty ones (`start >= end`).
    pub(crate) fn new(start: Micros, end: Micros, value: T) -> Piece<T> {
        Piece { start, end, value }
    }
}

/// `Some(end)` for a closed end, `None` for [`OPEN`].
pub(crate) fn end_option(end: Micros) -> Option<Micros> {
    (end != OPEN).then_some(end)
}

/// Cuts possibly overlapping `pieces` into sorted, non-overlapping segments over which the set
/// of covering pieces is constant and non-empty; `resolve` turns each set (in the order of the
/// pieces' starts) into the segment's value, or `None` to leave a gap.
pub(crate) fn sweep<'a, T, U>(pieces: &'a [Piece<T>], mut resolve: impl FnMut(&[&'a T]) -> Option<U>) -> Vec<Piece<U>> {
    let mut order: Vec<&'a Piece<T>> = pieces.iter().filter(|p| p.start < p.end).collect();
    order.sort_by_key(|p| p.start);
    let mut bounds: Vec<Micros> = order.iter().flat_map(|p| [p.start, p.end]).collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut out = Vec::new();
    let mut active: Vec<&'a Piece<T>> = Vec::new();
    let mut values: Vec<&'a T> = Vec::new();
    let mut next = 0;
    for pair in bounds.windows(2) {
        let &[from, to] = pair else { continue };
        while let Some(p) = order.get(next)
            && p.start <= from
        {
            active.push(p);
            next += 1;
        }
        active.retain(|p| p.end > from);
        if active.is_empty() {
            continue;
        }
        values.clear();
        values.extend(active.iter().map(|p| &p.value));
        if let Some(value) = resolve(&values) {
            out.push(Piece::new(from, to, value));
        }
    }
    out
}

/// `top` over `bottom` (both sorted and non-overlapping): where `top` holds it wins, elsewhere
/// `bottom` shows through. The result is sorted and non-overlapping.
pub(crate) fn overlay<T: Clone>(top: Vec<Piece<T>>, bottom: Vec<Piece<T>>) -> Vec<Piece<T>> {
    if top.is_empty() {
        return bottom;
    }
    let mut out = Vec::with_capacity(top.len() + bottom.len());
    let mut first = 0;
    for b in bottom {
        while let Some(t) = top.get(first)
            && t.end <= b.start
        {
            first += 1;
        }
        let mut cursor = b.start;
        let mut k = first;
        while let Some(t) = top.get(k)
            && t.start < b.end
        {
            if t.start > cursor {
                out.push(Piece::new(cursor, t.start, b.value.clone()));
            }
            cursor = cursor.max(t.end);
            k += 1;
        }
        if cursor < b.end {
            out.push(Piece::new(cursor, b.end, b.value));
        }
    }
    out.extend(top);
    out.sort_by_key(|p| p.start);
    out
}

/// Joins neighbours that touch and carry equal values.
pub(crate) fn merge_adjacent<T: PartialEq>(pieces: Vec<Piece<T>>) -> Vec<Piece<T>> {
    let mut out: Vec<Piece<T>> = Vec::with_capacity(pieces.len());
    for p in pieces {
        match out.last_mut() {
            Some(last) if last.end == p.start && last.value == p.value => last.end = p.end,
            _ => out.push(p),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans<T: Clone>(pieces: &[Piece<T>]) -> Vec<(Micros, Micros, T)> {
        pieces.iter().map(|p| (p.start, p.end, p.value.clone())).collect()
    }

    #[test]
    fn sweep_splits_overlaps_into_constant_sets() {
        let pieces = [Piece::new(0, 10, 'a'), Piece::new(5, 15, 'b'), Piece::new(20, OPEN, 'c'), Piece::new(7, 7, 'z')];
        let out = sweep(&pieces, |set| Some(set.iter().map(|c| **c).collect::<String>()));
        assert_eq!(
            spans(&out),
            [(0, 5, "a".into()), (5, 10, "ab".into()), (10, 15, "b".into()), (20, OPEN, "c".to_string())]
        );
    }

    #[test]
    fn overlay_lets_the_top_win_and_the_bottom_show_through() {
        let top = vec![Piece::new(5, 8, 't'), Piece::new(12, 30, 'u')];
        let bottom = vec![Piece::new(0, 10, 'b'), Piece::new(10, 20, 'c'), Piece::new(40, OPEN, 'd')];
        assert_eq!(
            spans(&overlay(top, bottom)),
            [(0, 5, 'b'), (5, 8, 't'), (8, 10, 'b'), (10, 12, 'c'), (12, 30, 'u'), (40, OPEN, 'd')]
        );
    }

    #[test]
    fn merge_joins_touching_equal_neighbours_only() {
        let pieces = vec![Piece::new(0, 5, 1), Piece::new(5, 9, 1), Piece::new(10, 12, 1), Piece::new(12, 13, 2)];
        assert_eq!(spans(&merge_adjacent(pieces)), [(0, 9, 1), (10, 12, 1), (12, 13, 2)]);
    }
}
