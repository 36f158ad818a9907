//! The device-id rule: which device a SenML record came from, and the metric name it reports.
//!
//! Every resolved record name (base name + name) is split at its **last** `:` or `/`. The part
//! before that separator is the device id, the part after it the metric name:
//! `bn` `urn:dev:mac:0024befffe804ff1:` + `n` `HR` gives device `urn:dev:mac:0024befffe804ff1`
//! and metric `HR`; `bn` `monitor-7/` + `n` `SpO2` gives device `monitor-7` and metric `SpO2`.
//!
//! With [`DeviceIdFrom::Name`] (the default), a resolved name without any `:` or `/` (`HR`)
//! takes its device id from the MQTT topic instead: topic level `device_topic_level`
//! (0-based, default 2, so `wardstream/<ward>/<device>/...` gives `<device>`), and the whole
//! name is the metric name.
//!
//! With [`DeviceIdFrom::Topic`], the device id is always that topic level, whatever the name
//! says; the metric name is still the part of the resolved name after its last `:` or `/` (or
//! the whole name when it has none).
//!
//! A record whose device id cannot be derived (the name has no separator, or the rule is
//! `topic`, and the topic has no such level or it is empty) becomes a dead letter with the
//! reason `unknown_device`. A record whose name ends in a separator has an empty metric name
//! and becomes a dead letter with the reason `unknown_metric`.
//!
//! Note that the rule is purely syntactic: a name such as `urn:dev:ow:10e2073a01080063` (a
//! device URN used as a whole record name, as in RFC 8428 §5.1.3) splits into device
//! `urn:dev:ow` and metric `10e2073a01080063`. Devices should put the separator between their
//! id and the metric (`bn` ending in `:` or `/`).

use serde::Deserialize;

/// Where a reading's device id comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceIdFrom {
    /// The resolved SenML name (before its last `:` or `/`), falling back to the topic level
    /// when the name has no separator.
    #[default]
    Name,
    /// Always the topic level.
    Topic,
}

/// The device-id rule with its topic level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceIdRule {
    /// Where the device id comes from.
    pub from: DeviceIdFrom,
    /// The 0-based topic level holding the device id (`wardstream/<ward>/<device>` → 2).
    pub topic_level: usize,
}

impl Default for DeviceIdRule {
    fn default() -> Self {
        DeviceIdRule { from: DeviceIdFrom::Name, topic_level: 2 }
    }
}

/// A resolved name split by the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split<'a> {
    /// The device id, `None` when none could be derived.
    pub device: Option<&'a str>,
    /// The metric name (possibly empty when the resolved name ends in a separator).
    pub metric: &'a str,
}

impl DeviceIdRule {
    /// Splits a resolved record name into device id and metric name, taking the device id from
    /// `topic` where the rule says so.
    pub fn split<'a>(&self, resolved_name: &'a str, topic: &'a str) -> Split<'a> {
        let (prefix, metric) = split_name(resolved_name);
        let device = match self.from {
            DeviceIdFrom::Name => prefix.or_else(|| topic_level(topic, self.topic_level)),
            DeviceIdFrom::Topic => topic_level(topic, self.topic_level),
        };
        Split { device, metric }
    }

    /// The device id of a message whose records could not be read, when the rule allows one
    /// without a name (only [`DeviceIdFrom::Topic`]).
    pub fn device_without_name<'t>(&self, topic: &'t str) -> Option<&'t str> {
        match self.from {
            DeviceIdFrom::Name => None,
            DeviceIdFrom::Topic => topic_level(topic, self.topic_level),
        }
    }
}

/// Splits a name at its last `:` or `/`: `(Some(device), metric)`, or `(None, name)` when it
/// has neither.
pub fn split_name(name: &str) -> (Option<&str>, &str) {
    match name.rfind([':', '/']) {
        // The separators are ASCII, so `i + 1` is a character boundary.
        Some(i) => (Some(&name[..i]), &name[i + 1..]),
        None => (None, name),
    }
}

/// Level `level` (0-based) of an MQTT topic, if it exists and is not empty.
pub fn topic_level(topic: &str, level: usize) -> Option<&str> {
    topic.split('/').nth(level).filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: DeviceIdRule = DeviceIdRule { from: DeviceIdFrom::Name, topic_level: 2 };
    const TOPIC: DeviceIdRule = DeviceIdRule { from: DeviceIdFrom::Topic, topic_level: 2 };

    #[test]
    fn the_name_splits_at_its_last_colon_or_slash() {
        let s = NAME.split("urn:dev:mac:0024befffe804ff1:HR", "wardstream/icu/bed-4");
        assert_eq!(s, Split { device: Some("urn:dev:mac:0024befffe804ff1"), metric: "HR" });
        let s = NAME.split("ward3/monitor-7/SpO2", "x");
        assert_eq!(s, Split { device: Some("ward3/monitor-7"), metric: "SpO2" });
        let s = NAME.split("2001:db8::2/temperature", "x");
        assert_eq!(s, Split { device: Some("2001:db8::2"), metric: "temperature" });
        let s = NAME.split("dev:", "x");
        assert_eq!(s, Split { device: Some("dev"), metric: "" });
    }

    #[test]
    fn a_name_without_separator_takes_the_device_from_the_topic_level() {
        let s = NAME.split("HR", "wardstream/icu/monitor-7/senml");
        assert_eq!(s, Split { device: Some("monitor-7"), metric: "HR" });
        assert_eq!(NAME.split("HR", "wardstream/icu").device, None);
        assert_eq!(NAME.split("HR", "wardstream/icu//x").device, None);
    }

    #[test]
    fn the_topic_rule_always_uses_the_topic_level() {
        let s = TOPIC.split("urn:dev:mac:0024befffe804ff1:HR", "wardstream/icu/bed-4");
        assert_eq!(s, Split { device: Some("bed-4"), metric: "HR" });
        let s = TOPIC.split("HR", "wardstream/icu/bed-4");
        assert_eq!(s, Split { device: Some("bed-4"), metric: "HR" });
        assert_eq!(TOPIC.split("a:HR", "wardstream").device, None);
        assert_eq!(TOPIC.device_without_name("wardstream/icu/bed-4"), Some("bed-4"));
        assert_eq!(NAME.device_without_name("wardstream/icu/bed-4"), None);
    }

    #[test]
    fn topic_levels_count_from_zero() {
        assert_eq!(topic_level("a/b/c", 0), Some("a"));
        assert_eq!(topic_level("a/b/c", 2), Some("c"));
        assert_eq!(topic_level("a/b/c", 3), None);
        assert_eq!(topic_level("", 0), None);
    }

    #[test]
    fn the_device_id_rule_deserialises_from_lowercase_names() {
        #[derive(Deserialize)]
        struct C {
            from: DeviceIdFrom,
        }
        let c: C = serde_json::from_str(r#"{"from":"topic"}"#).unwrap();
        assert_eq!(c.from, DeviceIdFrom::Topic);
        assert!(serde_json::from_str::<C>(r#"{"from":"Topic"}"#).is_err());
    }
}
