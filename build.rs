// SPDX-License-Identifier: MPL-2.0
use std::path::Path;

fn main() {
    gst_plugin_version_helper::info();
    // A build script that names nothing it depends on is run again whenever
    // any file of the package changes (a doc, a script, a test): the plugin's
    // version info then counts as new, the library is rebuilt and every
    // program of the workspace relinked (minutes, in release). The commit
    // the version info records changes with the checked-out commit only,
    // which moves git's log of HEAD.
    println!("cargo:rerun-if-changed=build.rs");
    for file in [".git/HEAD", ".git/logs/HEAD"] {
        if Path::new(file).exists() {
            println!("cargo:rerun-if-changed={file}");
        }
    }
}
