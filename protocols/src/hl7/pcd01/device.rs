//! Which device produced an OBX: OBX-18, else the MDS-level OBX-18 of its containment tree,
//! else MSH-3.
//!
//! IHE PCD-01 numbers each observation's place in the device's containment tree in OBX-4:
//! `<MDS>.<VMD>.<channel>.<metric>` (`1.0.1.3`). The MDS-level OBX (OBX-4 `1`, or `1.0.0.0`)
//! describes the whole device and usually carries its equipment identifier in OBX-18, while
//! the metrics below it may not. The rule, for one OBX:
//! 1. its own OBX-18: EI.1 (entity identifier) of the first repetition that has one;
//! 2. else OBX-18 of the MDS-level OBX with the same MDS number in the same OBR group;
//! 3. else MSH-3, the sending application: HD.2 (universal id, the EUI-64 of a device
//!    observation reporter) when sent, else HD.1 (namespace id).
//!
//! No id at all makes the OBX a dead letter `unknown_device`.

use std::sync::Arc;

use super::super::person::leaf;
use super::super::{Message, Segment, Value};

/// The device ids of one OBR group (and the message's fallback), each allocated once.
pub(super) struct Devices {
    /// (MDS number, equipment id) of the group's MDS-level OBXs.
    mds: Vec<(String, Arc<str>)>,
    fallback: Option<Arc<str>>,
    interned: Vec<Arc<str>>,
}

impl Devices {
    pub(super) fn new(msg: &Message) -> Devices {
        let msh3 = msg.msh().field(3);
        let universal = leaf(msh3.component(2));
        let id = if universal.is_empty() { leaf(msh3.component(1)) } else { universal };
        Devices { mds: Vec::new(), fallback: (!id.is_empty()).then(|| Arc::from(id)), interned: Vec::new() }
    }

    /// Learns the MDS-level equipment ids of a new OBR group's OBXs.
    pub(super) fn start_group(&mut self, obxs: &[Segment<'_>]) {
        self.mds.clear();
        for obx in obxs {
            let Some((mds, true)) = containment(obx) else { continue };
            if let Some(id) = equipment_id(obx.field(18)) {
                let id = self.intern(&id);
                self.mds.push((mds, id));
            }
        }
    }

    /// The device of `obx` by the module's rule.
    pub(super) fn of(&mut self, obx: &Segment<'_>) -> Option<Arc<str>> {
        if let Some(id) = equipment_id(obx.field(18)) {
            return Some(self.intern(&id));
        }
        let from_mds = containment(obx).and_then(|(mds, _)| self.mds.iter().find(|(m, _)| *m == mds));
        match from_mds {
            Some((_, id)) => Some(Arc::clone(id)),
            None => self.fallback.clone(),
        }
    }

    fn intern(&mut self, id: &str) -> Arc<str> {
        if let Some(known) = self.interned.iter().find(|d| &***d == id) {
            return Arc::clone(known);
        }
        let new: Arc<str> = Arc::from(id);
        self.interned.push(Arc::clone(&new));
        new
    }
}

/// EI.1 of the first repetition of an OBX-18 that has one.
fn equipment_id(field: Value<'_>) -> Option<String> {
    field.repetitions().map(|r| leaf(r.component(1))).find(|id| !id.is_empty())
}

/// OBX-4 as (MDS number, whether this OBX is the MDS itself): `1.0.1.3` → (`1`, false),
/// `1` and `1.0.0.0` → (`1`, true). `None` when OBX-4 is empty.
fn containment(obx: &Segment<'_>) -> Option<(String, bool)> {
    let text = obx.field(4).text();
    let text = text.trim();
    let mut parts: Vec<&str> = text.split('.').map(str::trim).collect();
    while parts.len() > 1 && parts.last() == Some(&"0") {
        parts.pop();
    }
    let mds = parts.first().filter(|m| !m.is_empty())?;
    Some(((*mds).to_owned(), parts.len() == 1))
}
