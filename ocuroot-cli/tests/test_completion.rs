//! `ocuroot completion <shell>`: the scripts load in real bash, zsh and fish and complete
//! subcommands (issue 11). `.ci/run` installs zsh and fish; bash is always there.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ocuroot");

/// Runs `shell -c script` with `$OCUROOT` set to the binary; returns (status, stdout, stderr).
fn shell(shell: &str, args: &[&str], script: &str) -> (bool, String, String) {
    let out = Command::new(shell)
        .args(args)
        .arg("-c")
        .arg(script)
        .env("OCUROOT", BIN)
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap_or_else(|e| panic!("{shell} must be installed (.ci/run installs it): {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bash_completion_loads_and_completes_subcommands() {
    // Source the script in a real bash, then ask its function for the completions of
    // `ocuroot sta` and `ocuroot state g`, as bash does on <Tab>.
    let script = r#"
set -e
source <("$OCUROOT" completion bash)
complete -p ocuroot
COMP_WORDS=(ocuroot sta); COMP_CWORD=1; COMP_LINE="ocuroot sta"; COMP_POINT=11
_ocuroot ocuroot sta ocuroot
echo "top: ${COMPREPLY[*]}"
COMP_WORDS=(ocuroot state g); COMP_CWORD=2; COMP_LINE="ocuroot state g"; COMP_POINT=15
_ocuroot ocuroot g state
echo "state: ${COMPREPLY[*]}"
"#;
    let (ok, stdout, stderr) = shell("bash", &["--noprofile", "--norc"], script);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("-F _ocuroot ocuroot"), "{stdout}");
    assert!(stdout.contains("top: state"), "{stdout}");
    assert!(stdout.contains("state: get"), "{stdout}");
}

#[test]
fn zsh_completion_loads() {
    let script = r#"
autoload -U compinit && compinit -u -D
source <("$OCUROOT" completion zsh) || exit 1
(( $+functions[_ocuroot] )) && print "defined"
print "bound: $_comps[ocuroot]"
"#;
    let (ok, stdout, stderr) = shell("zsh", &["-f"], script);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("defined"), "{stdout}{stderr}");
    assert!(stdout.contains("bound: _ocuroot"), "{stdout}{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn fish_completion_loads_and_completes_subcommands() {
    let script = r#"
"$OCUROOT" completion fish | source; or exit 1
complete -C "ocuroot sta"
complete -C "ocuroot state g"
"#;
    let (ok, stdout, stderr) = shell("fish", &["--no-config"], script);
    assert!(ok, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.iter().any(|l| l.starts_with("state\t")), "{stdout}");
    assert!(lines.iter().any(|l| l.starts_with("get\t")), "{stdout}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn powershell_and_elvish_scripts_are_generated() {
    for (sh, marker) in [
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "set edit:completion:arg-completer[ocuroot]"),
    ] {
        let out = Command::new(BIN)
            .args(["completion", sh])
            .output()
            .expect("run ocuroot");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(marker), "{sh}: {text}");
        assert!(text.contains("'state'") || text.contains("state"), "{sh}");
    }
    let bad = Command::new(BIN)
        .args(["completion", "tcsh"])
        .output()
        .expect("run ocuroot");
    assert_eq!(bad.status.code(), Some(2));
}
