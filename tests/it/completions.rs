//! Shell completions and `--help`: what a person at a terminal gets.

use std::process::Command;

fn shipgate(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_shipgate"))
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn bash_completion_loads_and_knows_the_commands() {
    let script = shipgate(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shipgate.bash");
    std::fs::write(&path, &script).unwrap();
    // Sourced by a real bash, then asked what `shipgate de<TAB>` completes to.
    let probe = format!(
        "source {}; COMP_WORDS=(shipgate de); COMP_CWORD=1; COMP_LINE='shipgate de'; COMP_POINT=11; _shipgate shipgate de shipgate; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let output = Command::new("bash").args(["-c", &probe]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let words = String::from_utf8(output.stdout).unwrap();
    let words: Vec<&str> = words.lines().collect();
    assert!(words.contains(&"deploy"), "{words:?}");
    assert!(words.contains(&"detect"), "{words:?}");
}

#[test]
fn zsh_and_fish_scripts_name_every_command() {
    for shell in ["zsh", "fish"] {
        let script = shipgate(&["completions", shell]);
        for command in [
            "detect",
            "branch-policy",
            "plan",
            "build",
            "deploy",
            "run",
            "config",
        ] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
    }
}

#[test]
fn every_command_has_examples_in_its_help() {
    for command in [
        "detect",
        "branch-policy",
        "plan",
        "build",
        "deploy",
        "run",
        "config",
        "completions",
    ] {
        let help = shipgate(&[command, "--help"]);
        assert!(
            help.contains("Examples:\n  shipgate "),
            "{command} --help:\n{help}"
        );
    }
}
