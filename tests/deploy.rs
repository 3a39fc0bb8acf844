//! The systemd unit stays hardened: `systemd-analyze security` must rate it
//! at an exposure of 2.0 or less (the scale runs from 0, locked down, to 10).

use std::process::Command;

#[test]
fn the_unit_is_hardened_to_an_exposure_of_at_most_2() {
    let unit = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/iopd.service");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", unit])
        .output()
        .expect("systemd-analyze (Debian package systemd) must be installed; .ci/run installs it");
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for iopd.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(level <= 2.0, "exposure {level}:\n{text}");
    let unit_text = std::fs::read_to_string(unit).unwrap();
    for must in [
        "Type=notify",
        "WatchdogSec=",
        "DynamicUser=yes",
        "StateDirectory=iopd",
        "LoadCredential=",
    ] {
        assert!(unit_text.contains(must), "the unit lacks {must}");
    }
}
