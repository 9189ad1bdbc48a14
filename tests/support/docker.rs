//! A `docker` stand-in: there is no Docker engine where the tests run. A small POSIX shell script,
//! written into a temporary directory that goes first on PATH, records what *would* run.

// Each test binary uses a different part of the harness.
#![expect(clippy::unwrap_used, reason = "a failed setup fails the test")]

use super::{Shipgate, TestRepo};
use std::path::PathBuf;

const STAND_IN: &str = r##"#!/bin/sh
# Stand-in for `docker` (and for command-template programs): there is no Docker engine here.
# Records its argv (one JSON array per line) in $STANDIN_LOG, its environment in
# $STANDIN_LOG.env (each call's after a `--- env of <name>` line) and start/end times in $STANDIN_TIMES; sleeps for the services in
# $STANDIN_SLEEP ("name=seconds ..."), fails for the services in $STANDIN_FAIL; writes a buildx
# metadata file when given --metadata-file.
set -u
json() { printf '%s' "$1" | sed -z -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' -e 's/\n/\\n/g'; }
line="[\"$(json "$(basename "$0")")\""
for arg in "$@"; do line="$line,\"$(json "$arg")\""; done
printf '%s]\n' "$line" >> "$STANDIN_LOG"

name=""; metadata=""; previous=""
for arg in "$@"; do
  if [ "$previous" = "--tag" ] && [ -z "$name" ]; then name=$arg; fi
  if [ "$previous" = "--metadata-file" ]; then metadata=$arg; fi
  previous=$arg
done
repository=${name%:*}
name=${repository##*/}
[ -n "$name" ] || name=unnamed
{ printf -- '--- env of %s\n' "$name"; env; } >> "$STANDIN_LOG.env"

printf 'start %s %s\n' "$name" "$(date +%s%N)" >> "$STANDIN_TIMES"
echo "#1 [internal] load build definition for $name"
for pair in ${STANDIN_SLEEP:-}; do
  case $pair in "$name="*) sleep "${pair#*=}" ;; esac
done
for failing in ${STANDIN_FAIL:-}; do
  if [ "$failing" = "$name" ]; then
    i=1
    while [ $i -le 40 ]; do echo "#$i step $i of $name"; i=$((i + 1)); done
    echo "ERROR: failed to solve: $name exploded" >&2
    printf 'end %s %s\n' "$name" "$(date +%s%N)" >> "$STANDIN_TIMES"
    exit 1
  fi
done
if [ -n "$metadata" ]; then
  digest=$(printf '%s' "$name" | sha256sum | cut -c1-64)
  printf '{"containerimage.digest":"sha256:%s","image.name":"%s"}' "$digest" "$name" > "$metadata"
fi
echo "#9 DONE $name"
printf 'end %s %s\n' "$name" "$(date +%s%N)" >> "$STANDIN_TIMES"
"##;

/// The stand-in installed as `docker` and `remote-builder` in a temporary PATH directory.
pub(crate) struct StandIn {
    dir: tempfile::TempDir,
}

impl Default for StandIn {
    fn default() -> Self {
        Self::new()
    }
}

impl StandIn {
    pub(crate) fn new() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for program in ["docker", "remote-builder"] {
            let path = dir.path().join(program);
            std::fs::write(&path, STAND_IN).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        StandIn { dir }
    }

    /// The argv log: one JSON array per call.
    /// The directory holding the stand-in programs (to put first on a PATH).
    pub(crate) fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub(crate) fn log(&self) -> PathBuf {
        self.dir.path().join("argv.jsonl")
    }

    /// The start and end times of every call.
    pub(crate) fn times(&self) -> PathBuf {
        self.dir.path().join("times")
    }

    /// The environments the stand-in saw (`env` output of every call).
    pub(crate) fn environments(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("argv.jsonl.env")).unwrap_or_default()
    }

    /// The environment of the call that built the image named `name` (the last part of its
    /// repository), as `env` printed it; empty when there was none.
    pub(crate) fn environment_of(&self, name: &str) -> String {
        let header = format!("--- env of {name}\n");
        self.environments()
            .split_inclusive('\n')
            .fold((false, String::new()), |(inside, mut text), line| {
                if line.starts_with("--- env of ") {
                    (line == header, text)
                } else {
                    if inside {
                        text.push_str(line);
                    }
                    (inside, text)
                }
            })
            .1
    }

    /// shipgate with the stand-in first on PATH.
    pub(crate) fn shipgate(&self, repo: &TestRepo) -> Shipgate {
        let path = format!(
            "{}:{}",
            self.dir.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Shipgate::new(repo)
            .env("PATH", path)
            .env("STANDIN_LOG", self.log())
            .env("STANDIN_TIMES", self.times())
    }

    /// Every recorded argv, in order.
    pub(crate) fn argvs(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The recorded argvs that tag `image` (`host/repository`, no tag).
    pub(crate) fn builds_of(&self, image: &str) -> Vec<Vec<String>> {
        let prefix = format!("{image}:");
        self.argvs()
            .into_iter()
            .filter(|argv| argv.iter().any(|arg| arg.starts_with(&prefix)))
            .collect()
    }

    /// (event, service, nanoseconds) for every start and end.
    pub(crate) fn events(&self) -> Vec<(String, String, u128)> {
        std::fs::read_to_string(self.times())
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let parts: Vec<&str> = l.split_whitespace().collect();
                (parts[0].into(), parts[1].into(), parts[2].parse().unwrap())
            })
            .collect()
    }

    /// The most builds that ever ran at the same time.
    pub(crate) fn max_overlap(&self) -> usize {
        let mut events = self.events();
        // At equal times an end comes before a start.
        events.sort_by_key(|(kind, _, at)| (*at, kind == "start"));
        let (mut running, mut most) = (0usize, 0usize);
        for (kind, _, _) in events {
            if kind == "start" {
                running += 1;
                most = most.max(running);
            } else {
                running -= 1;
            }
        }
        most
    }
}
