// SPDX-License-Identifier: MPL-2.0
//! Headless Chromium for the browser tests (tests/hlssegmentsink.rs,
//! tests/browser.rs): Debian's package, a profile of the test's own, and a
//! clean stop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Chromium's path: Debian's package (`STREAMKIT_WITH_BROWSER=1
/// scripts/deps.sh` installs it).
pub fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("chromium missing: STREAMKIT_WITH_BROWSER=1 scripts/deps.sh installs it")
}

/// Opens `url` in headless Chromium with the profile `profile`, no first-run
/// or background traffic, and `extra` flags.
pub fn open(url: &str, profile: &Path, extra: &[&str]) -> Child {
    Command::new(chromium())
        .args([
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .args(extra)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium")
}

/// Asks Chromium to quit (SIGTERM to the browser process, which takes its
/// helper processes down with it), killing it if it does not within 5 s.
pub fn stop(browser: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &browser.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = browser.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = browser.kill();
    let _ = browser.wait();
}
