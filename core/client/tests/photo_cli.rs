//! The `baoming photo` command-line tool, run as a process (needs the `cli` feature).

use std::path::PathBuf;
use std::process::Command;

fn baoming() -> Command {
    Command::new(env!("CARGO_BIN_EXE_baoming"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("baoming-photo-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(name)
}

#[test]
fn prepare_then_check_passes_and_bad_input_fails() {
    let astronaut = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/photos/astronaut.png");
    let out = scratch("astronaut.jpg");
    let prepared = baoming().args(["photo", "prepare", astronaut]).arg(&out).output().expect("runs");
    let text = String::from_utf8_lossy(&prepared.stdout);
    assert!(prepared.status.success(), "{text}");
    assert!(text.contains("prepared") && text.contains("face"), "{text}");

    let checked = baoming().args(["photo", "check", "--lang", "en"]).arg(&out).output().expect("runs");
    let text = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{text}");
    assert!(text.contains("PASS"), "{text}");

    // The PNG itself is not a compliant photo: exit 1, with the reason in both languages.
    let failed = baoming().args(["photo", "check", astronaut]).output().expect("runs");
    let text = String::from_utf8_lossy(&failed.stdout);
    assert_eq!(failed.status.code(), Some(1), "{text}");
    assert!(
        text.contains("photo_not_jpeg") && text.contains("JPEG格式") && text.contains("must be a JPEG"),
        "{text}"
    );

    // Usage and unreadable files: exit 2.
    assert_eq!(baoming().args(["photo"]).status().expect("runs").code(), Some(2));
    let missing = baoming().args(["photo", "check", "/nonexistent/photo.jpg"]).status().expect("runs");
    assert_eq!(missing.code(), Some(2));
    let _ = std::fs::remove_file(out);
}

#[test]
fn rules_come_from_a_toml_file() {
    let rules = scratch("rules.toml");
    std::fs::write(&rules, "max_bytes = 30000\n").expect("rules");
    let astronaut = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/photos/astronaut.png");
    let out = scratch("small.jpg");
    let status =
        baoming().args(["photo", "prepare", "--rules"]).arg(&rules).arg(astronaut).arg(&out).status();
    assert!(status.expect("runs").success());
    let len = std::fs::metadata(&out).expect("written").len();
    assert!((20_480..=30_000).contains(&len), "{len} bytes");
    let _ = std::fs::remove_file(out);
    let _ = std::fs::remove_file(rules);
}
