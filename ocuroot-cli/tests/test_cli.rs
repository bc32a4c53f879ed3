//! The command line itself: help texts, version, usage errors.

use crate::common::TestEnv;

#[test]
fn top_level_help() {
    let env = TestEnv::new();
    insta::assert_snapshot!(env.run(&["--help"]));
}

#[test]
fn state_help() {
    let env = TestEnv::new();
    insta::assert_snapshot!(env.run(&["state", "--help"]));
}

#[test]
fn version() {
    let env = TestEnv::new();
    insta::assert_snapshot!(env.run(&["version"]));
}

#[test]
fn version_needs_no_repository() {
    let env = TestEnv::without_config();
    let out = env.run(&["version"]);
    assert!(out.status.success(), "{out}");
}

#[test]
fn unknown_command_is_a_usage_error() {
    let env = TestEnv::new();
    let out = env.run(&["state", "frobnicate"]);
    assert_eq!(out.code(), 2, "{out}");
}

#[test]
fn broken_pipe_exits_quietly() {
    use std::io::Read;
    use std::process::Stdio;

    let env = TestEnv::new();
    let docs: Vec<_> = (0..600)
        .map(|i| {
            (
                format!("@/custom/{}-{i:05}", "x".repeat(240)),
                serde_json::json!(i),
            )
        })
        .collect();
    let docs: Vec<(&str, serde_json::Value)> =
        docs.iter().map(|(r, v)| (r.as_str(), v.clone())).collect();
    env.seed_state(&docs);
    let mut child = env
        .command("", &["state", "match"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Read one byte, then close the pipe, as `| head -c1` would.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut byte = [0u8; 1];
    stdout.read_exact(&mut byte).expect("read");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "{stderr}");
    assert!(out.status.success(), "{:?}", out.status);
}

/// The binary is linked as `build.rs` says (by default position-dependent on Linux with
/// glibc, so the loader has no relocations to apply at start): the ELF header's `e_type`
/// is `ET_EXEC` (2) for a position-dependent executable, `ET_DYN` (3) for a PIE.
#[test]
fn binary_is_linked_as_build_rs_says() {
    let expected = match env!("OCUROOT_LINKED_AS") {
        "no-pie" => 2u16,
        "pie" => 3u16,
        _ => return, // not Linux with glibc: the toolchain's default
    };
    let mut header = [0u8; 18];
    std::io::Read::read_exact(
        &mut std::fs::File::open(env!("CARGO_BIN_EXE_ocuroot")).expect("open the binary"),
        &mut header,
    )
    .expect("read the ELF header");
    assert_eq!(&header[..4], b"\x7fELF", "an ELF file");
    let e_type = u16::from_le_bytes([header[16], header[17]]);
    assert_eq!(e_type, expected, "e_type of the ocuroot binary");
}
