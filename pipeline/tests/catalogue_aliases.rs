//! The names real devices send resolve to the right catalogue metric: MIMIC-II numerics headers,
//! every OBX-3 of two real IHE PCD-01 messages (code, reference id and the whole coded element),
//! Masimo ASCII-1 fields, vendor export labels, LOINC codes; and a site's `[catalogue]`
//! configuration extends the built-in catalogue or is refused with the offending name.

use wardstream_pipeline::{Catalogue, CatalogueConfig, CatalogueError};

/// oehf/ipf PCD-01 test messages (Apache-2.0, see `tests/data/README.md`).
const PCD01_REQUEST2: &str = include_str!("data/ipf-pcd01-request2.hl7");
const PCD01_MAXIMUM: &str = include_str!("data/ipf-pcd01-maximum-request2.hl7");

/// An OBX-3 and the metric of its code, of its reference id and of the whole element.
type Expected = (&'static str, Option<&'static str>, Option<&'static str>, Option<&'static str>);

fn name_of(c: &Catalogue, device_name: &str) -> Option<String> {
    c.lookup(device_name).map(|m| m.name.clone())
}

/// OBX-3 of every OBX segment, parsed minimally: segments on `\r`/`\n`, fields on `|`.
fn obx3(message: &str) -> Vec<&str> {
    message
        .split(['\r', '\n'])
        .filter(|segment| segment.starts_with("OBX|"))
        .map(|segment| segment.split('|').nth(3).unwrap_or(""))
        .collect()
}

#[test]
fn the_builtin_catalogue_loads_every_row_with_its_codes() {
    let c = Catalogue::builtin();
    assert_eq!(c.metrics().len(), 78);
    assert_eq!(c.metrics().iter().filter(|m| !m.verified).count(), 13);
    let row = |name: &str| {
        let m = c.by_name(name).unwrap();
        (m.mdc_ref_id.clone(), m.mdc_code, m.loinc.clone(), m.unit.clone(), m.verified)
    };
    assert_eq!(row("heart_rate"), ("MDC_ECG_HEART_RATE".into(), 147842, Some("8867-4".into()), "/min".into(), true));
    assert_eq!(
        row("perfusion_index"),
        ("MDC_PULS_OXIM_PERF_REL".into(), 150448, Some("61006-3".into()), "%".into(), true)
    );
    assert_eq!(row("etco2"), ("MDC_CONC_AWAY_CO2_ET".into(), 151708, Some("19891-1".into()), "mm[Hg]".into(), true));
    assert_eq!(row("ecg_avf"), ("MDC_ECG_ELEC_POTL_AVF".into(), 131392, None, "mV".into(), true));
    assert_eq!(row("st_v6"), ("MDC_ECG_AMPL_ST_V6".into(), 131848, None, "mV".into(), true));
    assert_eq!(row("sphb"), ("MDC_CONC_HB_ART".into(), 159764, None, "g/dL".into(), false));
    assert_eq!(row("pap_sys"), ("MDC_PRESS_BLD_ART_PULM_SYS".into(), 150045, None, "mm[Hg]".into(), true));
    for pulse in ["pulse_rate", "pulse_rate_spo2", "pulse_rate_pleth", "pulse_rate_nibp", "pulse_rate_ibp"] {
        assert_ne!(c.by_name(pulse).unwrap().loinc.as_deref(), Some("8867-4"), "{pulse}");
    }
    assert_eq!(name_of(&c, &"x".repeat(100)), None);
}

#[test]
fn equipment_and_masimo_3d_alarm_metrics_load_with_their_units_ranges_and_codes() {
    let c = Catalogue::builtin();
    let row = |name: &str| {
        let m = c.by_name(name).unwrap();
        (m.mdc_ref_id.as_str(), m.mdc_code, m.loinc.as_deref(), m.unit.as_str(), m.plausible_min, m.plausible_max)
    };
    assert_eq!(row("humidity_relative"), ("MDC_REL_HUMIDITY_AMBIENT", 188804, None, "%", 0.0, 100.0));
    assert_eq!(row("temp_storage"), ("WS_TEMP_STORAGE", 196593, None, "Cel", -90.0, 60.0));
    assert_eq!(row("door_open"), ("WS_DOOR_OPEN", 196594, None, "1", 0.0, 1.0));
    assert_eq!(row("heater_on"), ("WS_HEATER_ON", 196595, None, "1", 0.0, 1.0));
    assert_eq!(row("desat_index"), ("WS_PULS_OXIM_DESAT_INDEX", 196596, None, "1", 0.0, 99.0));
    assert_eq!(row("perfusion_index_delta"), ("WS_PULS_OXIM_PERF_REL_DELTA", 196597, None, "%", -100.0, 100.0));
    let added = ["humidity_relative", "temp_storage", "door_open", "heater_on", "desat_index", "perfusion_index_delta"];
    for (i, name) in added.into_iter().enumerate() {
        let m = c.by_name(name).unwrap();
        assert_eq!((usize::from(m.id), m.verified), (72 + i, false), "{name}: appended, marked verify");
        for key in [m.mdc_ref_id.clone(), m.mdc_code.to_string(), name.to_ascii_uppercase()] {
            assert_eq!(name_of(&c, &key).as_deref(), Some(name), "{key}");
        }
    }
    // A blood fridge at 4 °C is a plausible storage temperature, not a body temperature.
    let (storage, body) = (c.by_name("temp_storage").unwrap(), c.by_name("temp").unwrap());
    assert!(storage.plausible_min <= 4.0 && 4.0 <= storage.plausible_max);
    assert!(4.0 < body.plausible_min);
}

#[test]
fn every_mimic2_numerics_header_name_maps_to_its_metric() {
    let c = Catalogue::builtin();
    let expected = [
        ("HR", "heart_rate"),
        ("ABPSys", "abp_sys"),
        ("ABPDias", "abp_dia"),
        ("ABPMean", "abp_mean"),
        ("PULSE", "pulse_rate_spo2"),
        ("RESP", "resp_rate"),
        ("SpO2", "spo2"),
        ("NBPSys", "nibp_sys"),
        ("NBPDias", "nibp_dia"),
        ("NBPMean", "nibp_mean"),
    ];
    for (header, metric) in expected {
        assert_eq!(name_of(&c, header).as_deref(), Some(metric), "{header}");
        assert_eq!(name_of(&c, &header.to_ascii_lowercase()).as_deref(), Some(metric), "{header}");
    }
}

#[test]
fn every_obx3_of_the_pcd01_messages_maps_by_code_by_reference_id_and_as_a_whole() {
    let c = Catalogue::builtin();
    // (OBX-3, metric by its code, by its reference id, by the whole coded element)
    let expected: [Expected; 19] = [
        ("147842^MDC_ECG_HEART_RATE^MDC", Some("heart_rate"), Some("heart_rate"), Some("heart_rate")),
        ("148065^MDC_ECG_V_P_C_CNT^MDC", Some("pvc_count"), Some("pvc_count"), Some("pvc_count")),
        ("150035^MDC_PRESS_BLD_ART_MEAN^MDC", Some("abp_mean"), Some("abp_mean"), Some("abp_mean")),
        ("150033^MDC_PRESS_BLD_ART_SYS^MDC", Some("abp_sys"), Some("abp_sys"), Some("abp_sys")),
        ("150034^MDC_PRESS_BLD_ART_DIA^MDC", Some("abp_dia"), Some("abp_dia"), Some("abp_dia")),
        ("149522^MDC_BLD_PULS_RATE_INV^MDC", Some("pulse_rate_ibp"), Some("pulse_rate_ibp"), Some("pulse_rate_ibp")),
        ("150047^MDC_PRESS_BLD_ART_PULM_MEAN^MDC", Some("pap_mean"), Some("pap_mean"), Some("pap_mean")),
        ("150045^MDC_PRESS_BLD_ART_PULM_SYS^MDC", Some("pap_sys"), Some("pap_sys"), Some("pap_sys")),
        ("150046^MDC_PRESS_BLD_ART_PULM_DIA^MDC", Some("pap_dia"), Some("pap_dia"), Some("pap_dia")),
        // The maximum message: a device profile and the NIBP compound carry no measurement.
        ("528391^MDC_DEV_SPEC_PROFILE_BP^MDC", None, None, None),
        ("150020^MDC_PRESS_BLD_NONINV^MDC", None, None, None),
        ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", Some("nibp_sys"), Some("nibp_sys"), Some("nibp_sys")),
        ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", Some("nibp_dia"), Some("nibp_dia"), Some("nibp_dia")),
        ("150023^MDC_PRESS_BLD_NONINV_MEAN^MDC", Some("nibp_mean"), Some("nibp_mean"), Some("nibp_mean")),
        // Its second OBR repeats them with a digit appended to the code: not MDC codes, so only
        // the reference id resolves.
        ("5283912^MDC_DEV_SPEC_PROFILE_BP^MDC", None, None, None),
        ("1500202^MDC_PRESS_BLD_NONINV^MDC", None, None, None),
        ("1500212^MDC_PRESS_BLD_NONINV_SYS^MDC", None, Some("nibp_sys"), Some("nibp_sys")),
        ("1500212^MDC_PRESS_BLD_NONINV_SYS^MDC", None, Some("nibp_sys"), Some("nibp_sys")),
        ("1500232^MDC_PRESS_BLD_NONINV_MEAN^MDC", None, Some("nibp_mean"), Some("nibp_mean")),
    ];
    let seen: Vec<&str> = obx3(PCD01_REQUEST2).into_iter().chain(obx3(PCD01_MAXIMUM)).collect();
    assert_eq!(seen, expected.iter().map(|e| e.0).collect::<Vec<_>>());
    for (element, by_code, by_id, whole) in expected {
        let components: Vec<&str> = element.split('^').collect();
        assert_eq!(name_of(&c, components[0]).as_deref(), by_code, "code of {element}");
        assert_eq!(name_of(&c, components[1]).as_deref(), by_id, "id of {element}");
        assert_eq!(name_of(&c, element).as_deref(), whole, "{element}");
        assert_eq!(c.lookup_coded(element).map(|m| m.name.as_str()), whole, "{element}");
    }
}

#[test]
fn coded_elements_resolve_by_any_known_component_and_refuse_disagreement() {
    let c = Catalogue::builtin();
    let cases = [
        (" 150456 ^ mdc_puls_oxim_sat_o2 ^ MDC ", Some("spo2")),
        ("^MDC_PULS_OXIM_SAT_O2^MDC", Some("spo2")),
        ("^^^150456^MDC_PULS_OXIM_SAT_O2^MDC", Some("spo2")),
        ("0002-4182^HR^MDIL", Some("heart_rate")),
        ("8867-4^Heart rate^LN", Some("heart_rate")),
        ("150037^MDC_PRESS_BLD_ART_ABP_SYS^MDC", Some("abp_sys")),
        ("147842^PULSE^MDC", None),
        ("^^MDC", None),
        ("", None),
    ];
    for (element, metric) in cases {
        assert_eq!(name_of(&c, element).as_deref(), metric, "{element:?}");
    }
}

#[test]
fn every_masimo_ascii1_field_and_vendor_label_maps_to_its_metric() {
    let c = Catalogue::builtin();
    let expected = [
        ("SPO2", "spo2"),
        ("BPM", "pulse_rate_spo2"),
        ("PI", "perfusion_index"),
        ("SPCO", "spco"),
        ("SPMET", "spmet"),
        ("SPHB", "sphb"),
        ("SPOC", "spoc"),
        ("PVI", "pvi"),
        ("DESAT", "desat_index"),
        ("PIDELTA", "perfusion_index_delta"),
        ("pidelta", "perfusion_index_delta"),
        ("NBPs", "nibp_sys"),
        ("ABPm", "abp_mean"),
        ("PAPd", "pap_dia"),
        ("CVPm", "cvp"),
        ("etCO2", "etco2"),
        ("Pulse", "pulse_rate_spo2"),
        ("NOM_PLETH_PULS_RATE", "pulse_rate_pleth"),
        ("NOM_AWAY_CO2_ET", "etco2"),
        ("151728", "etco2"),
        ("NOM_ECG_AMPL_ST_AVL", "st_avl"),
        ("MDC_BLD_PERF_INDEX", "perfusion_index"),
        ("aVR", "ecg_avr"),
        ("PLETH", "pleth"),
        ("Tcore", "temp_core"),
    ];
    for (label, metric) in expected {
        assert_eq!(name_of(&c, label).as_deref(), Some(metric), "{label}");
    }
}

#[test]
fn every_loinc_alias_goes_to_the_documented_metric() {
    let c = Catalogue::builtin();
    let expected = [
        ("8867-4", "heart_rate"),
        ("8889-8", "pulse_rate_spo2"),
        ("60978-4", "pulse_rate_ibp"),
        ("59408-5", "spo2"),
        ("61006-3", "perfusion_index"),
        ("9279-1", "resp_rate"),
        ("19891-1", "etco2"),
        ("8480-6", "bp_sys"),
        ("8462-4", "bp_dia"),
        ("8478-0", "bp_mean"),
        ("76534-7", "nibp_sys"),
        ("76535-4", "nibp_dia"),
        ("8440-0", "pap_sys"),
        ("8385-7", "pap_dia"),
        ("8414-5", "pap_mean"),
        ("60985-9", "cvp"),
        ("60956-0", "icp"),
        ("8310-5", "temp_body"),
        ("8329-5", "temp_core"),
        ("8332-9", "temp_rectal"),
        ("8331-1", "temp_oral"),
        ("8328-7", "temp_axillary"),
        ("8333-7", "temp_tympanic"),
        ("60836-4", "temp_esophageal"),
        ("8334-5", "temp_bladder"),
        ("60834-9", "temp_blood"),
    ];
    for (loinc, metric) in expected {
        assert_eq!(name_of(&c, loinc).as_deref(), Some(metric), "{loinc}");
    }
    let mut listed: Vec<&str> = expected.iter().map(|e| e.0).collect();
    let mut in_table: Vec<&str> = c.metrics().iter().filter_map(|m| m.loinc.as_deref()).collect();
    in_table.extend(["8440-0", "8385-7", "8414-5"]);
    listed.sort_unstable();
    in_table.sort_unstable();
    assert_eq!(listed, in_table, "every LOINC code of the catalogue is listed above");
}

const SITE: &str = r#"
[catalogue]
aliases = { "HF" = "heart_rate", "PCWP" = "pawp" }
metrics = [{ name = "pawp", mdc_ref_id = "MDC_PRESS_BLD_ART_PULM_OCCL", mdc_code = 150052,
             loinc = "75994-4", unit = "mm[Hg]", display = "Pulmonary artery wedge pressure",
             plausible_min = 0, plausible_max = 60 }]
"#;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    catalogue: CatalogueConfig,
}

fn site(toml_text: &str) -> Result<Catalogue, CatalogueError> {
    match toml::from_str::<Config>(toml_text) {
        Ok(config) => Catalogue::with_config(&config.catalogue),
        Err(e) => panic!("the test configuration does not parse: {e}"),
    }
}

#[test]
fn a_site_configuration_adds_metrics_and_aliases_to_the_builtin_catalogue() {
    let c = site(SITE).unwrap();
    assert_eq!(c.metrics().len(), 79);
    for name in ["pawp", "PCWP", "MDC_PRESS_BLD_ART_PULM_OCCL", "150052", "75994-4", "150052^X^MDC"] {
        assert_eq!(name_of(&c, name).as_deref(), Some("pawp"), "{name}");
    }
    let pawp = c.by_name("pawp").unwrap();
    assert_eq!((pawp.id, pawp.unit.as_str(), pawp.plausible_max, pawp.verified), (78, "mm[Hg]", 60.0, false));
    assert_eq!(name_of(&c, "hf").as_deref(), Some("heart_rate"));
    assert_eq!(name_of(&c, "HR").as_deref(), Some("heart_rate"));
}

/// The `[catalogue]` example of the service's commented example configuration, uncommented.
fn service_example() -> String {
    let example = include_str!("../../ingest/wardstream.example.toml");
    let block = example.lines().skip_while(|l| *l != "# [catalogue]").take_while(|l| !l.is_empty());
    block.map(|l| l.trim_start_matches('#').trim_start()).collect::<Vec<_>>().join("\n")
}

#[test]
fn the_service_example_configuration_extends_the_catalogue_as_documented() {
    let c = site(&service_example()).unwrap();
    assert_eq!(c.metrics().len(), 79);
    for (name, metric) in [("PCWP", "pawp"), ("150052", "pawp"), ("75994-4", "pawp"), ("HF", "heart_rate")] {
        assert_eq!(name_of(&c, name).as_deref(), Some(metric), "{name}");
    }
}

#[test]
fn a_site_configuration_that_redefines_anything_is_refused_by_name() {
    let with = |from: &str, to: &str| site(&SITE.replace(from, to)).unwrap_err().to_string();
    assert_eq!(with("\"pawp\", mdc_ref", "\"spo2\", mdc_ref"), "metric \"spo2\": name spo2 already belongs to spo2");
    assert_eq!(with("150052", "150456"), "metric \"pawp\": mdc_code 150456 already belongs to spo2");
    assert_eq!(
        with("MDC_PRESS_BLD_ART_PULM_OCCL", "mdc_ecg_heart_rate"),
        "metric \"pawp\": mdc_ref_id mdc_ecg_heart_rate already belongs to heart_rate"
    );
    assert_eq!(with("\"HF\"", "\"SpO2\""), "alias \"SpO2\" names both spo2 and heart_rate");
    assert_eq!(
        with("= \"heart_rate\"", "= \"heart_rat\""),
        "alias \"HF\" names \"heart_rat\", which is not a catalogue metric"
    );
    assert_eq!(
        with("\"mm[Hg]\"", "\"mmHg\""),
        "metric \"pawp\": unit \"mmHg\" is not a canonical unit wardstream converts into"
    );
    assert!(toml::from_str::<Config>(&SITE.replace("loinc", "lonic")).is_err(), "unknown fields are errors");
}
