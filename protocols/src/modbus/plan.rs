//! Poll planning: the points of a register map grouped into as few read requests as Modbus
//! allows. Adjacent or overlapping points of one function share a [`Block`] (one request) up
//! to 125 registers or 2000 bits; a gap between points starts a new block, because reading
//! unmapped addresses makes many devices answer "illegal data address" for the whole request.

use super::point::{Function, PointConfig};

/// One read request: `count` registers or bits of `function` from `start`, and the points it
/// carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The data table read.
    pub function: Function,
    /// The first address read.
    pub start: u16,
    /// How many registers or bits are read.
    pub count: u16,
    /// Indexes into the model's points, in address order.
    pub points: Vec<usize>,
}

impl Block {
    /// `holding_registers 100..=103`, for logs and dead letters.
    pub fn describe(&self) -> String {
        let last = u32::from(self.start) + u32::from(self.count) - 1;
        format!("{} {}..={}", self.function.as_str(), self.start, last)
    }
}

/// Groups `points` (already checked with [`PointConfig::problem`]) into blocks, ordered by
/// function then address. Every point lies wholly inside exactly one block.
pub fn plan(points: &[PointConfig]) -> Vec<Block> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| (points[i].function, points[i].address, points[i].end()));
    let mut blocks: Vec<Block> = Vec::new();
    for i in order {
        let point = &points[i];
        if let Some(block) = blocks.last_mut() {
            let block_end = u32::from(block.start) + u32::from(block.count);
            let new_end = block_end.max(point.end());
            let fits = u32::from(point.address) <= block_end
                && new_end - u32::from(block.start) <= u32::from(point.function.max_count());
            if block.function == point.function && fits {
                block.count = (new_end - u32::from(block.start)) as u16;
                block.points.push(i);
                continue;
            }
        }
        blocks.push(Block {
            function: point.function,
            start: point.address,
            count: point.data_type.width(),
            points: vec![i],
        });
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modbus::point::DataType;

    fn p(function: Function, address: u16, data_type: DataType) -> PointConfig {
        PointConfig::new("x", function, address, data_type)
    }

    #[test]
    fn adjacent_points_of_one_function_share_a_request_and_gaps_split() {
        use DataType::*;
        use Function::*;
        let points = [
            p(HoldingRegisters, 10, U32), // 10-11
            p(InputRegisters, 0, I16),    // 0
            p(HoldingRegisters, 12, F64), // 12-15, adjacent
            p(HoldingRegisters, 13, U16), // inside the previous one
            p(HoldingRegisters, 17, U16), // gap at 16
            p(Coils, 5, Bool),
            p(Coils, 6, Bool),
            p(DiscreteInputs, 6, Bool),
        ];
        let blocks = plan(&points);
        let summary: Vec<(Function, u16, u16, Vec<usize>)> =
            blocks.iter().map(|b| (b.function, b.start, b.count, b.points.clone())).collect();
        assert_eq!(
            summary,
            [
                (Coils, 5, 2, vec![5, 6]),
                (DiscreteInputs, 6, 1, vec![7]),
                (HoldingRegisters, 10, 6, vec![0, 2, 3]),
                (HoldingRegisters, 17, 1, vec![4]),
                (InputRegisters, 0, 1, vec![1]),
            ]
        );
        assert_eq!(blocks[2].describe(), "holding_registers 10..=15");
    }

    #[test]
    fn requests_never_exceed_125_registers_or_2000_bits_and_never_split_a_point() {
        // 100 adjacent u32 points = 200 registers: 62 points (124 registers) fit in the first.
        let regs: Vec<PointConfig> = (0..100).map(|i| p(Function::InputRegisters, i * 2, DataType::U32)).collect();
        let blocks = plan(&regs);
        assert_eq!(blocks.iter().map(|b| (b.start, b.count)).collect::<Vec<_>>(), [(0, 124), (124, 76)]);
        assert_eq!(blocks.iter().map(|b| b.points.len()).sum::<usize>(), 100);
        let bits: Vec<PointConfig> = (0..4500).map(|i| p(Function::Coils, i, DataType::Bool)).collect();
        let counts: Vec<u16> = plan(&bits).iter().map(|b| b.count).collect();
        assert_eq!(counts, [2000, 2000, 500]);
        let top = [p(Function::HoldingRegisters, 65_532, DataType::F64)];
        assert_eq!(plan(&top)[0].describe(), "holding_registers 65532..=65535");
    }
}
