// SPDX-License-Identifier: MPL-2.0
//! streamkit-linkem end to end: commands on both sides of a lossy link,
//! talking over real TCP (GStreamer's tcpserversrc and tcpclientsink).
//! Needs root and /dev/net/tun, and gst-launch-1.0 (scripts/deps.sh).

use std::process::Command;

fn linkem(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_streamkit-linkem"))
        .args(args)
        .output()
        .expect("streamkit-linkem runs")
}

#[test]
fn a_file_crosses_a_lossy_link_intact_between_commands_on_each_side() {
    let dir = std::env::temp_dir().join(format!("linkem-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("in.bin"), dir.join("out.bin"));
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i ^ (i >> 9)) as u8).collect();
    std::fs::write(&input, &data).unwrap();
    let receive = format!(
        "gst-launch-1.0 -q tcpserversrc host=$LINKEM_ADDR_B port=5000 ! filesink location={}",
        output.display()
    );
    let send = format!(
        "sleep 0.5; gst-launch-1.0 -q filesrc location={} ! tcpclientsink host=$LINKEM_ADDR_B port=5000",
        input.display()
    );
    let out = linkem(&["--rtt", "20", "--loss", "3", "--b", &receive, "--a", &send]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        std::fs::read(&output).unwrap() == data,
        "the file arrived whole"
    );
    // what the link did is reported, losses included
    let a_to_b = stderr
        .lines()
        .find(|l| l.starts_with("A to B:"))
        .unwrap_or_else(|| panic!("no report: {stderr}"));
    let lost: u64 = a_to_b
        .split(", ")
        .find_map(|p| p.strip_suffix(" lost"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{a_to_b}"));
    assert!(lost > 0, "{a_to_b}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_failing_command_fails_the_run_and_bad_settings_are_refused() {
    let out = linkem(&["--a", "exit 3"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`A: exit 3` ended with"));
    for bad in [
        &["--loss", "120", "--a", "true"][..],
        &["--burst", "0.5", "--loss", "2", "--a", "true"],
        &["--delay", "5", "--jitter", "10", "--a", "true"],
        &["--loss", "2", "--outage-ms", "0", "--a", "true"],
        &["--burst", "4", "--outage-ms", "50", "--a", "true"],
        &[],
    ] {
        let out = linkem(bad);
        assert!(!out.status.success(), "{bad:?} accepted");
        assert!(!out.stderr.is_empty(), "{bad:?}: no reason given");
    }
}
