//! Problems found while running, with the place they are about.
//!
//! A `Diagnostic` is plain data: the commands produce them, and the runner protocol or the
//! terminal renders them (`::error file=…,line=…` in Actions, `file:line:col: error: …` elsewhere).

use serde::Serialize;
use std::fmt;

/// How serious a diagnostic is; maps to `::error`, `::warning` and `::notice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Notice,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Notice => "notice",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// A place in a file, 1-based like editors and GitHub annotations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One problem, warning or notice, with an optional location and a hint on what to do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub level: Level,
    pub title: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(level: Level, title: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            level,
            title: title.into(),
            message: message.into(),
            location: None,
            help: None,
        }
    }

    pub fn error(title: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Level::Error, title, message)
    }

    pub fn warning(title: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Level::Warning, title, message)
    }

    pub fn notice(title: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Level::Notice, title, message)
    }

    pub fn at(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// The message with its hint, as one paragraph.
    pub fn full_message(&self) -> String {
        match &self.help {
            Some(help) => format!("{}\nhelp: {}", self.message, help),
            None => self.message.clone(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        write!(f, "{}: {}", self.level.as_str(), self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}
