//! A service's version: from a version file, the newest matching git tag, or a literal.
//!
//! Files are read from the commit being planned (not the working tree), so what is tagged is
//! what is built.

use crate::config::model::VersionSource;
use std::cmp::Ordering;

/// Reads a file of the planned commit by repository path.
pub trait Files {
    fn read(&self, path: &str) -> Option<String>;
    /// Every tag name of the repository.
    fn tags(&self) -> Vec<String>;
}

/// Resolves a version source to a non-empty version string.
pub fn resolve(source: &VersionSource, files: &dyn Files) -> Result<String, String> {
    let version = match source {
        VersionSource::Literal(text) => text.trim().to_string(),
        VersionSource::File { from } => from_file(from, files)?,
        VersionSource::GitTag { git_tag } => from_tags(git_tag, &files.tags())?,
    };
    if version.is_empty() || version.chars().any(char::is_whitespace) {
        return Err(format!(
            "the version {version:?} is empty or contains spaces"
        ));
    }
    Ok(version)
}

fn from_file(path: &str, files: &dyn Files) -> Result<String, String> {
    let text = files
        .read(path)
        .ok_or_else(|| format!("version file `{path}` does not exist in the planned commit"))?;
    let name = path.rsplit('/').next().unwrap_or(path);
    match name {
        "pyproject.toml" => pyproject(path, &text),
        "package.json" => {
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("`{path}` is not valid JSON: {e}"))?;
            json["version"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("`{path}` has no \"version\" string"))
        }
        "Cargo.toml" => cargo(path, &text, files),
        _ => text
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("version file `{path}` is empty")),
    }
}

fn parse_toml(path: &str, text: &str) -> Result<toml::Table, String> {
    text.parse::<toml::Table>()
        .map_err(|e| format!("`{path}` is not valid TOML: {}", e.message()))
}

fn pyproject(path: &str, text: &str) -> Result<String, String> {
    let table = parse_toml(path, text)?;
    let project = table.get("project");
    if let Some(version) = project
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_str())
    {
        return Ok(version.to_string());
    }
    let dynamic = project
        .and_then(|p| p.get("dynamic"))
        .and_then(|d| d.as_array())
        .is_some_and(|d| d.iter().any(|v| v.as_str() == Some("version")));
    if dynamic {
        return Err(format!(
            "`{path}` declares `dynamic = [\"version\"]`, so the version is computed at build time; take it from a git tag (`version: {{ git-tag: \"svc/v*\" }}`), a VERSION file, or write it literally"
        ));
    }
    table
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| {
            format!("`{path}` has neither `[project].version` nor `[tool.poetry].version`")
        })
}

fn cargo(path: &str, text: &str, files: &dyn Files) -> Result<String, String> {
    let table = parse_toml(path, text)?;
    let version = table.get("package").and_then(|p| p.get("version"));
    if let Some(version) = version.and_then(|v| v.as_str()) {
        return Ok(version.to_string());
    }
    let inherited = version
        .and_then(|v| v.get("workspace"))
        .and_then(|w| w.as_bool())
        .unwrap_or(false);
    if !inherited {
        return Err(format!("`{path}` has no `[package].version`"));
    }
    // `version.workspace = true`: the nearest Cargo.toml at or above with a [workspace].
    let workspace_version = |candidate: &str,
                             root: &toml::Table|
     -> Option<Result<String, String>> {
        let workspace = root.get("workspace")?;
        Some(
            workspace
                .get("package")
                .and_then(|p| p.get("version"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| format!("`{path}` inherits its version, but `{candidate}` has no `[workspace.package].version`")),
        )
    };
    if let Some(found) = workspace_version(path, &table) {
        return found;
    }
    let mut directories: Vec<&str> = path.split('/').collect();
    directories.pop();
    while !directories.is_empty() {
        directories.pop();
        let candidate = if directories.is_empty() {
            "Cargo.toml".to_string()
        } else {
            format!("{}/Cargo.toml", directories.join("/"))
        };
        if let Some(text) = files.read(&candidate)
            && let Some(found) = workspace_version(&candidate, &parse_toml(&candidate, &text)?)
        {
            return found;
        }
    }
    Err(format!(
        "`{path}` inherits its version (`version.workspace = true`) but no workspace Cargo.toml was found above it"
    ))
}

/// A semantic version, for picking the newest tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Semver {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: Vec<String>,
}

impl Semver {
    pub fn parse(text: &str) -> Option<Semver> {
        let text = text.split('+').next()?;
        let (core, pre) = match text.split_once('-') {
            Some((core, pre)) => (core, pre.split('.').map(str::to_string).collect()),
            None => (text, Vec::new()),
        };
        let mut numbers = core.split('.').map(|n| {
            (!n.is_empty() && (n == "0" || !n.starts_with('0')))
                .then(|| n.parse::<u64>().ok())
                .flatten()
        });
        let semver = Semver {
            major: numbers.next()??,
            minor: numbers.next()??,
            patch: numbers.next()??,
            pre,
        };
        numbers.next().is_none().then_some(semver)
    }
}

impl Ord for Semver {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (a, b) in self.pre.iter().zip(&other.pre) {
                        let order = match (a.parse::<u64>(), b.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => a.cmp(b),
                        };
                        if order != Ordering::Equal {
                            return order;
                        }
                    }
                    self.pre.len().cmp(&other.pre.len())
                }
            })
    }
}

impl PartialOrd for Semver {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The newest semver tag matching `pattern` (`auth/v*`: the prefix before `*`).
fn from_tags(pattern: &str, tags: &[String]) -> Result<String, String> {
    let prefix = pattern
        .strip_suffix('*')
        .ok_or_else(|| format!("git-tag pattern `{pattern}` must end with `*` (e.g. `auth/v*`)"))?;
    tags.iter()
        .filter_map(|tag| tag.strip_prefix(prefix))
        .filter_map(|rest| Semver::parse(rest).map(|v| (v, rest.to_string())))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, text)| text)
        .ok_or_else(|| {
            format!("no git tag matches `{pattern}` with a semantic version after the prefix")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Fake(BTreeMap<&'static str, &'static str>, Vec<&'static str>);

    impl Files for Fake {
        fn read(&self, path: &str) -> Option<String> {
            self.0.get(path).map(|s| s.to_string())
        }
        fn tags(&self) -> Vec<String> {
            self.1.iter().map(|s| s.to_string()).collect()
        }
    }

    fn file(path: &'static str, text: &'static str) -> Result<String, String> {
        resolve(
            &VersionSource::File { from: path.into() },
            &Fake(BTreeMap::from([(path, text)]), vec![]),
        )
    }

    #[test]
    fn each_file_kind() {
        assert_eq!(
            file("a/pyproject.toml", "[project]\nversion = \"0.8.8\"\n").unwrap(),
            "0.8.8"
        );
        assert_eq!(
            file("a/pyproject.toml", "[tool.poetry]\nversion = \"1.0.0\"\n").unwrap(),
            "1.0.0"
        );
        assert_eq!(
            file("a/package.json", r#"{"version": "1.4.2"}"#).unwrap(),
            "1.4.2"
        );
        assert_eq!(
            file(
                "a/Cargo.toml",
                "[package]\nname = \"g\"\nversion = \"1.1.0\"\n"
            )
            .unwrap(),
            "1.1.0"
        );
        assert_eq!(file("VERSION", "\n2.0.0\n").unwrap(), "2.0.0");
        assert_eq!(
            resolve(
                &VersionSource::Literal("3.1.4".into()),
                &Fake(BTreeMap::new(), vec![])
            )
            .unwrap(),
            "3.1.4"
        );
    }

    #[test]
    fn malformed_and_missing() {
        assert!(
            file("a/pyproject.toml", "[project]\ndynamic = [\"version\"]\n")
                .unwrap_err()
                .contains("dynamic")
        );
        assert!(
            file("a/pyproject.toml", "[project\n")
                .unwrap_err()
                .contains("not valid TOML")
        );
        assert!(
            file("a/package.json", "{")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            file("a/package.json", "{}")
                .unwrap_err()
                .contains("no \"version\"")
        );
        assert!(
            file("a/Cargo.toml", "[package]\nname = \"g\"\n")
                .unwrap_err()
                .contains("no `[package].version`")
        );
        assert!(file("VERSION", "  \n").unwrap_err().contains("empty"));
        let missing = resolve(
            &VersionSource::File {
                from: "nope/VERSION".into(),
            },
            &Fake(BTreeMap::new(), vec![]),
        );
        assert!(missing.unwrap_err().contains("does not exist"));
    }

    #[test]
    fn cargo_workspace_inheritance() {
        let files = Fake(
            BTreeMap::from([
                (
                    "Cargo.toml",
                    "[workspace]\nmembers = [\"crates/*\"]\n[workspace.package]\nversion = \"4.5.6\"\n",
                ),
                (
                    "crates/gw/Cargo.toml",
                    "[package]\nname = \"gw\"\nversion.workspace = true\n",
                ),
            ]),
            vec![],
        );
        assert_eq!(
            resolve(
                &VersionSource::File {
                    from: "crates/gw/Cargo.toml".into()
                },
                &files
            )
            .unwrap(),
            "4.5.6"
        );
        let orphan = Fake(
            BTreeMap::from([("x/Cargo.toml", "[package]\nversion.workspace = true\n")]),
            vec![],
        );
        assert!(
            resolve(
                &VersionSource::File {
                    from: "x/Cargo.toml".into()
                },
                &orphan
            )
            .is_err()
        );
    }

    #[test]
    fn newest_semver_tag_with_prefix() {
        let files = Fake(
            BTreeMap::new(),
            vec![
                "auth/v1.2.3",
                "auth/v1.10.0",
                "auth/v1.10.0-rc.1",
                "auth/vbad",
                "web/v9.0.0",
                "auth/v01.0.0",
            ],
        );
        let source = VersionSource::GitTag {
            git_tag: "auth/v*".into(),
        };
        assert_eq!(resolve(&source, &files).unwrap(), "1.10.0");
        let none = VersionSource::GitTag {
            git_tag: "api/v*".into(),
        };
        assert!(
            resolve(&none, &files)
                .unwrap_err()
                .contains("no git tag matches")
        );
    }

    #[test]
    fn semver_precedence() {
        let v = |s: &str| Semver::parse(s).unwrap();
        assert!(v("1.0.0-alpha") < v("1.0.0-alpha.1"));
        assert!(v("1.0.0-alpha.1") < v("1.0.0-beta"));
        assert!(v("1.0.0-beta.2") < v("1.0.0-beta.11"));
        assert!(v("1.0.0-rc.1") < v("1.0.0"));
        assert!(Semver::parse("1.2").is_none());
        assert!(Semver::parse("1.2.3.4").is_none());
    }
}
