//! Device identity: a device may only report for itself.
//!
//! On a broker whose access rules tie each device's credentials to its own topic (Mosquitto:
//! `pattern write wardstream/+/%u/#`), the topic level `device_topic_level` is the device's
//! authenticated identity. With [`IdentityPolicy::Enforce`], every record name of a message that
//! names a device (the part before its last `:` or `/`, see [`device`](super::device)) must name
//! that same device, otherwise the **whole message** is rejected as one dead letter with the
//! reason `identity_mismatch` and nothing of it is stored. A record name without a device part
//! (`HR`) names no device and always passes (its device id comes from the topic).
//!
//! "The same device" means equal, or a URN whose last `:`-separated segment is the topic's
//! device id: topic `wardstream/icu/monitor-7/vitals` accepts `bn` `monitor-7:` and
//! `urn:dev:ws:monitor-7:`, and rejects `urn:dev:ws:monitor-8:` and `ward3/monitor-7/`. Under
//! `enforce`, a message whose records name a device but whose topic has no device level is
//! rejected too (its identity cannot be verified). Payloads rejected before any name is read
//! (not SenML) are dead letters for their own reason, as without the policy.
//!
//! [`IdentityPolicy::Off`] (the default) skips the check: the topic is then not trusted as an
//! identity and the device id rule alone decides.

use serde::Deserialize;

/// Whether the device a payload names must be the device its topic identifies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentityPolicy {
    /// No check (the default).
    #[default]
    Off,
    /// A message whose payload names another device than its topic is one `identity_mismatch`
    /// dead letter; nothing of it is stored.
    Enforce,
}

/// True when `claimed` (a device id named in a payload) is `topic_device`: equal, or a URN
/// ending in `:` + `topic_device`.
pub fn same_device(claimed: &str, topic_device: &str) -> bool {
    !topic_device.is_empty()
        && (claimed == topic_device || claimed.strip_suffix(topic_device).is_some_and(|p| p.ends_with(':')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_matches_itself_or_a_urn_ending_in_its_id() {
        assert!(same_device("monitor-7", "monitor-7"));
        assert!(same_device("urn:dev:ws:monitor-7", "monitor-7"));
        assert!(same_device("urn:dev:ws:monitor-7", "urn:dev:ws:monitor-7"));
        for (claimed, topic) in [
            ("urn:dev:ws:monitor-8", "monitor-7"),
            ("urn:dev:ws:xmonitor-7", "monitor-7"),
            ("ward3/monitor-7", "monitor-7"),
            ("monitor-7", "urn:dev:ws:monitor-7"),
            ("monitor-7", ""),
            ("", "monitor-7"),
        ] {
            assert!(!same_device(claimed, topic), "{claimed} vs {topic}");
        }
    }

    #[test]
    fn the_policy_deserialises_from_lowercase_names_and_defaults_to_off() {
        #[derive(Deserialize)]
        struct C {
            identity: IdentityPolicy,
        }
        let c: C = serde_json::from_str(r#"{"identity":"enforce"}"#).unwrap();
        assert_eq!(c.identity, IdentityPolicy::Enforce);
        assert_eq!(IdentityPolicy::default(), IdentityPolicy::Off);
        assert!(serde_json::from_str::<C>(r#"{"identity":"strict"}"#).is_err());
    }
}
