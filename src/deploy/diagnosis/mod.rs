//! The explanation of a failed or timed-out rollout, as data: what the pods did wrong, what the
//! cluster said about it, and the last lines the crashing container wrote.
//!
//! Modelled on Krane's failure report (`debug_message`): a heading, the newest ReplicaSet, the
//! deduplicated pod problems, the final replica counts, the events since the deploy started
//! without the routine success ones, and a log tail. Rendering (terminal, job summary) is the
//! report's business; this module only decides what goes in.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::deploy::pods::PodProblem;

pub(super) mod gather;

/// Events that only say things went as planned (Krane's exclusion list): in a failure report
/// they bury the one line that matters.
const SUCCESS_NOISE: &[&str] = &[
    "Started",
    "Created",
    "SuccessfulCreate",
    "Scheduled",
    "Pulling",
    "Pulled",
];

/// Events are kept from this long before the deploy started: the kubelet's clock and ours
/// differ, and event timestamps have whole seconds (Krane uses the same margin).
const EVENT_CLOCK_MARGIN: SignedDuration = SignedDuration::from_secs(5);

/// Log lines longer than this are cut: one minified JSON line must not fill the summary.
const MAX_LOG_LINE_CHARS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The rollout cannot succeed (doomed pods, a failed rollout status).
    Failed,
    /// Nothing failed outright, but the rollout did not finish within `deadline`.
    TimedOut { deadline: Duration },
}

/// The tail of one container's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLogs {
    pub pod: String,
    pub container: String,
    /// The previous (crashed) instance's log rather than the current one.
    pub previous: bool,
    pub lines: Vec<String>,
}

/// Everything the report says about one failed service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub verdict: Verdict,
    /// `Deployment/auth`.
    pub workload: String,
    /// The newest ReplicaSet's name (Deployments only).
    pub new_replica_set: Option<String>,
    /// The replica counters, e.g. `4 replicas, 1 updatedReplica, 3 availableReplicas`.
    pub final_status: String,
    /// From [`dedupe_problems`] (and readiness explanations on timeouts).
    pub pod_problems: Vec<String>,
    /// From [`relevant_events`].
    pub events: Vec<String>,
    /// How many event occurrences [`relevant_events`] left out.
    pub suppressed_events: usize,
    pub logs: Option<ContainerLogs>,
}

impl Diagnosis {
    /// Krane's heading: `Deployment/auth: FAILED` or
    /// `Deployment/auth: TIMED OUT (progress deadline: 600s)`.
    pub fn heading(&self) -> String {
        match self.verdict {
            Verdict::Failed => format!("{}: FAILED", self.workload),
            Verdict::TimedOut { deadline } => format!(
                "{}: TIMED OUT (progress deadline: {}s)",
                self.workload,
                deadline.as_secs()
            ),
        }
    }
}

/// One line per distinct problem, however many pods share it:
/// `ImagePullBackOff (container auth, 2 pods): Failed to pull image …`.
///
/// Problems are the same when container and message are: a pod flipping between `ErrImagePull`
/// and `ImagePullBackOff` is one problem, so its reasons are joined (`ErrImagePull/ImagePullBackOff`).
/// Lines keep the order in which problems first appear.
pub fn dedupe_problems(problems: &[PodProblem]) -> Vec<String> {
    struct Group<'a> {
        container: Option<&'a str>,
        message: &'a str,
        reasons: Vec<&'a str>,
        pods: Vec<&'a str>,
    }
    let mut groups: Vec<Group> = Vec::new();
    for p in problems {
        let container = p.container.as_deref();
        let index = match groups
            .iter()
            .position(|g| g.container == container && g.message == p.message)
        {
            Some(i) => i,
            None => {
                groups.push(Group {
                    container,
                    message: &p.message,
                    reasons: Vec::new(),
                    pods: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let group = &mut groups[index];
        if !group.reasons.contains(&p.reason.as_str()) {
            group.reasons.push(&p.reason);
        }
        if !group.pods.contains(&p.pod.as_str()) {
            group.pods.push(&p.pod);
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let pods = plural(g.pods.len(), "pod");
            let whom = match g.container {
                Some(c) => format!("container {c}, {pods}"),
                None => pods,
            };
            format!("{} ({whom}): {}", g.reasons.join("/"), g.message)
        })
        .collect()
}

/// The events worth reading, as `[Pod/auth-7cdc9bd4f-hf5sj] Failed: Error: ErrImagePull (2 events)`,
/// oldest first, and how many event occurrences were left out.
///
/// Kept: every type (Warning and informative Normal ones such as `BackOff` or
/// `ScalingReplicaSet`) last seen no earlier than 5 s before `since` (the deploy start), except
/// Krane's success noise (Started, Created, SuccessfulCreate, Scheduled, Pulling, Pulled).
/// Events with the same object, reason and message are one line with their counts summed: the
/// kubelet posts a new Event for each retry. Events without any timestamp are left out, since
/// their age is unknown.
pub fn relevant_events(events: &[Event], since: Timestamp) -> (Vec<String>, usize) {
    struct Line {
        first_seen: Timestamp,
        order: (u64, usize),
        count: usize,
    }
    let threshold = since.as_second() - EVENT_CLOCK_MARGIN.as_secs();
    let mut suppressed = 0;
    let mut lines: HashMap<(String, String, String), Line> = HashMap::new();
    for (index, event) in events.iter().enumerate() {
        let count = occurrences(event);
        let reason = event.reason.as_deref().unwrap_or_default();
        let last_seen = last_seen(event);
        let recent = last_seen.is_some_and(|t| t.as_second() >= threshold);
        if SUCCESS_NOISE.contains(&reason) || !recent {
            suppressed += count;
            continue;
        }
        let object = &event.involved_object;
        let subject = format!(
            "{}/{}",
            object.kind.as_deref().unwrap_or("Object"),
            object.name.as_deref().unwrap_or_default()
        );
        let message = one_line(event.message.as_deref().unwrap_or_default());
        let first_seen = first_seen(event).or(last_seen).unwrap_or(since);
        // The apiserver's resourceVersion orders events posted within the same second.
        let version = event
            .metadata
            .resource_version
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX);
        let line = lines
            .entry((subject, reason.to_owned(), message))
            .or_insert(Line {
                first_seen,
                order: (version, index),
                count: 0,
            });
        line.count += count;
        if (first_seen, (version, index)) < (line.first_seen, line.order) {
            line.first_seen = first_seen;
            line.order = (version, index);
        }
    }
    let mut lines: Vec<_> = lines.into_iter().collect();
    lines.sort_by_key(|(_, line)| (line.first_seen, line.order));
    let lines = lines
        .into_iter()
        .map(|((subject, reason, message), line)| {
            format!(
                "[{subject}] {reason}: {message} ({})",
                plural(line.count, "event")
            )
        })
        .collect();
    (lines, suppressed)
}

/// How often the event happened: `count` (core/v1), else `series.count` (events.k8s.io
/// writers), else once.
fn occurrences(event: &Event) -> usize {
    event
        .count
        .filter(|n| *n > 0)
        .or_else(|| event.series.as_ref()?.count.filter(|n| *n > 0))
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(1)
}

fn last_seen(event: &Event) -> Option<Timestamp> {
    event
        .last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| {
            event
                .series
                .as_ref()?
                .last_observed_time
                .as_ref()
                .map(|t| t.0)
        })
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
        .or_else(|| event.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| event.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

fn first_seen(event: &Event) -> Option<Timestamp> {
    event
        .first_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Whose log explains the failure: `(pod, container, previous)`.
///
/// A crash loop or OOM kill first, from the previous (crashed) instance, since the current one
/// is waiting and has written nothing; else a container that exited with a code (a Failed pod),
/// from its current, terminated instance. Image, configuration and scheduling problems have no
/// log: the container never started.
pub fn log_target(problems: &[PodProblem]) -> Option<(String, String, bool)> {
    let crashed = problems
        .iter()
        .find(|p| matches!(p.reason.as_str(), "CrashLoopBackOff" | "OOMKilled"))
        .and_then(|p| Some((p.pod.clone(), p.container.clone()?, true)));
    crashed.or_else(|| {
        problems
            .iter()
            .find(|p| p.exit_code.is_some() && p.reason != "ContainerCannotRun")
            .and_then(|p| Some((p.pod.clone(), p.container.clone()?, false)))
    })
}

/// The last `lines` lines of a log, each cut to 500 characters (marked with `…`). A final
/// newline does not make an empty last line; `\r\n` endings are accepted.
pub fn tail(text: &str, lines: usize) -> Vec<String> {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|line| {
            if line.chars().count() > MAX_LOG_LINE_CHARS {
                let mut cut: String = line.chars().take(MAX_LOG_LINE_CHARS - 1).collect();
                cut.push('…');
                cut
            } else {
                (*line).to_owned()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EventSeries, ObjectReference};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};

    fn captured_items<T: serde::de::DeserializeOwned>(capture: &str) -> Vec<T> {
        let exchange: serde_json::Value = serde_json::from_str(capture).unwrap();
        serde_json::from_value(exchange["response"]["body"]["items"].clone()).unwrap()
    }

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../../tests/fixtures/k8s-api/", $name, ".json"))
        };
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn problem(pod: &str, container: Option<&str>, reason: &str, message: &str) -> PodProblem {
        PodProblem {
            pod: pod.into(),
            container: container.map(Into::into),
            reason: reason.into(),
            message: message.into(),
            exit_code: None,
            restarts: 0,
        }
    }

    #[test]
    fn events_of_the_missing_image_pod() {
        let events: Vec<Event> = captured_items(fixture!("05-11-events-pod-missing"));
        // The :missing rollout started at 10:37:39 (kubectl set image).
        let (lines, suppressed) = relevant_events(&events, at("2026-11-22T10:37:39.2Z"));
        let pull = "Failed to pull image \"registry.local/auth:missing\": rpc error: code = NotFound desc = failed to pull and unpack image \"registry.local/auth:missing\": failed to resolve reference \"registry.local/auth:missing\": registry.local/auth:missing: not found (registry answered 404 MANIFEST_UNKNOWN: manifest unknown)";
        assert_eq!(
            lines,
            vec![
                format!("[Pod/auth-7cdc9bd4f-hf5sj] Failed: {pull} (2 events)"),
                "[Pod/auth-7cdc9bd4f-hf5sj] Failed: Error: ErrImagePull (2 events)".to_owned(),
                "[Pod/auth-7cdc9bd4f-hf5sj] BackOff: Back-off pulling image \"registry.local/auth:missing\" (2 events)".to_owned(),
                "[Pod/auth-7cdc9bd4f-hf5sj] Failed: Error: ImagePullBackOff (2 events)".to_owned(),
            ]
        );
        // Scheduled once, Pulling twice.
        assert_eq!(suppressed, 3);
    }

    #[test]
    fn events_of_the_crashing_pod() {
        let events: Vec<Event> = captured_items(fixture!("05-19-events-pod-crash"));
        let (lines, suppressed) = relevant_events(&events, at("2026-11-22T10:38:48Z"));
        assert_eq!(
            lines,
            vec![
                "[Pod/auth-7d4c6fb8cb-nsb5z] BackOff: Back-off restarting failed container auth in pod auth-7d4c6fb8cb-nsb5z_shop(4ac34413-2f97-47e1-aaae-de63b83481b7) (2 events)"
            ]
        );
        // Scheduled, Pulled, 3 × Created, 3 × Started.
        assert_eq!(suppressed, 8);
    }

    #[test]
    fn old_events_are_left_out_and_aggregated_counts_kept() {
        let events: Vec<Event> = captured_items(fixture!("05-12-events-deployment"));
        // The :missing rollout: only the aggregated event was seen since (last 10:37:39).
        let (lines, suppressed) = relevant_events(&events, at("2026-11-22T10:37:40Z"));
        assert_eq!(
            lines,
            vec![
                "[Deployment/auth] ScalingReplicaSet: (combined from similar events): Scaled up replica set auth-7cdc9bd4f to 1 (5 events)"
            ]
        );
        assert_eq!(suppressed, 9);
        // Within the 5 s margin before the start.
        let (_, suppressed) = relevant_events(&events, at("2026-11-22T10:35:05Z"));
        assert_eq!(suppressed, 6, "the 4 events of 10:35:00 and later are kept");
        // The whole history, oldest first.
        let (lines, suppressed) = relevant_events(&events, at("2026-11-22T10:34:00Z"));
        assert_eq!(suppressed, 0);
        assert_eq!(lines.len(), 10);
        assert_eq!(
            lines[0],
            "[Deployment/auth] ScalingReplicaSet: Scaled up replica set auth-5fff9bd6dd to 3 (1 event)"
        );
        assert!(lines[9].contains("combined from similar events"));
    }

    #[test]
    fn replica_set_events_keep_deletions_and_drop_creations() {
        let events: Vec<Event> = captured_items(fixture!("03-11-events-old-replicaset"));
        let (lines, suppressed) = relevant_events(&events, at("2026-11-22T10:34:57Z"));
        assert_eq!(
            lines,
            vec![
                "[ReplicaSet/auth-5fff9bd6dd] SuccessfulDelete: Deleted pod: auth-5fff9bd6dd-xb27k (1 event)",
                "[ReplicaSet/auth-5fff9bd6dd] SuccessfulDelete: Deleted pod: auth-5fff9bd6dd-tk86s (1 event)",
                "[ReplicaSet/auth-5fff9bd6dd] SuccessfulDelete: Deleted pod: auth-5fff9bd6dd-mldnr (1 event)",
            ]
        );
        assert_eq!(suppressed, 3);
    }

    #[test]
    fn events_from_several_objects_interleave_by_time() {
        let mut events: Vec<Event> = captured_items(fixture!("05-19-events-pod-crash"));
        events.extend(captured_items::<Event>(fixture!(
            "05-11-events-pod-missing"
        )));
        let (lines, _) = relevant_events(&events, at("2026-11-22T10:37:39Z"));
        assert!(
            lines
                .first()
                .unwrap()
                .starts_with("[Pod/auth-7cdc9bd4f-hf5sj] Failed: Failed to pull")
        );
        assert!(
            lines
                .last()
                .unwrap()
                .starts_with("[Pod/auth-7d4c6fb8cb-nsb5z] BackOff:")
        );
    }

    #[test]
    fn series_events_and_multiline_messages() {
        let event = Event {
            involved_object: ObjectReference {
                kind: Some("Pod".into()),
                name: Some("web-1".into()),
                ..ObjectReference::default()
            },
            reason: Some("FailedMount".into()),
            message: Some("MountVolume.SetUp failed\n  for volume \"cfg\"".into()),
            type_: Some("Warning".into()),
            series: Some(EventSeries {
                count: Some(4),
                last_observed_time: Some(MicroTime(at("2026-11-22T10:00:30Z"))),
            }),
            event_time: Some(MicroTime(at("2026-11-22T10:00:01Z"))),
            ..Event::default()
        };
        let (lines, suppressed) =
            relevant_events(std::slice::from_ref(&event), at("2026-11-22T10:00:20Z"));
        assert_eq!(
            lines,
            vec!["[Pod/web-1] FailedMount: MountVolume.SetUp failed for volume \"cfg\" (4 events)"]
        );
        assert_eq!(suppressed, 0);
        let mut undated = event;
        undated.series = None;
        undated.event_time = None;
        undated.last_timestamp = None;
        assert_eq!(
            relevant_events(&[undated], at("2026-11-22T10:00:20Z")),
            (vec![], 1)
        );
        let old = Event {
            last_timestamp: Some(Time(at("2026-11-22T09:00:00Z"))),
            count: Some(7),
            ..Event::default()
        };
        assert_eq!(
            relevant_events(&[old], at("2026-11-22T10:00:20Z")),
            (vec![], 7)
        );
    }

    #[test]
    fn problems_are_deduplicated_across_pods() {
        let pull = "Failed to pull image r/auth:missing: not found. Did you wait for it to be built and pushed to the registry?";
        let problems = [
            problem("auth-1", Some("auth"), "ErrImagePull", pull),
            problem("auth-2", Some("auth"), "ImagePullBackOff", pull),
            problem("auth-2", Some("auth"), "ImagePullBackOff", pull),
            problem(
                "auth-3",
                None,
                "Unschedulable",
                "Pod could not be scheduled because 0/3 nodes are available",
            ),
            problem("auth-4", Some("sidecar"), "ErrImagePull", pull),
        ];
        assert_eq!(
            dedupe_problems(&problems),
            vec![
                format!("ErrImagePull/ImagePullBackOff (container auth, 2 pods): {pull}"),
                "Unschedulable (1 pod): Pod could not be scheduled because 0/3 nodes are available"
                    .to_owned(),
                format!("ErrImagePull (container sidecar, 1 pod): {pull}"),
            ]
        );
        assert!(dedupe_problems(&[]).is_empty());
    }

    #[test]
    fn log_target_prefers_crashes_from_the_previous_instance() {
        let mut crash = problem(
            "auth-2",
            Some("auth"),
            "CrashLoopBackOff",
            "Crashing repeatedly (exit 1). See logs below.",
        );
        crash.exit_code = Some(1);
        let mut failed = problem(
            "auth-3",
            Some("job"),
            "Failed",
            "Pod status: Failed (Reason: Failed).",
        );
        failed.exit_code = Some(2);
        let pull = problem(
            "auth-1",
            Some("auth"),
            "ErrImagePull",
            "Failed to pull image",
        );
        assert_eq!(
            log_target(&[pull.clone(), failed.clone(), crash.clone()]),
            Some(("auth-2".into(), "auth".into(), true))
        );
        assert_eq!(
            log_target(&[pull.clone(), failed]),
            Some(("auth-3".into(), "job".into(), false))
        );
        let mut oom = problem("auth-5", Some("auth"), "OOMKilled", "Killed");
        oom.exit_code = Some(137);
        assert_eq!(
            log_target(&[oom]),
            Some(("auth-5".into(), "auth".into(), true))
        );
        let mut cannot_run = problem(
            "auth-6",
            Some("auth"),
            "ContainerCannotRun",
            "Failed to start",
        );
        cannot_run.exit_code = Some(127);
        assert_eq!(log_target(&[pull, cannot_run]), None);
        assert_eq!(log_target(&[]), None);
    }

    #[test]
    fn tail_of_the_captured_crash_log() {
        let exchange: serde_json::Value =
            serde_json::from_str(fixture!("12-14-pod-log-crashloop-previous-200")).unwrap();
        let text = exchange["response"]["bodyText"].as_str().unwrap();
        assert_eq!(
            tail(text, 2),
            vec![
                "2026-11-22T10:38:48Z ERROR acc-app: DATABASE_URL is not set",
                "2026-11-22T10:38:48Z FATAL acc-app: exiting with code 1 ACC-CRASH-LOG-MARKER",
            ]
        );
        assert_eq!(tail(text, 25).len(), 4);
        assert!(tail(text, 0).is_empty());
        assert!(tail("", 25).is_empty());
    }

    #[test]
    fn tail_caps_long_lines_on_char_boundaries() {
        let long = "é".repeat(600);
        let text = format!("first\r\n{long}\nlast\n");
        let lines = tail(&text, 3);
        assert_eq!(lines[0], "first");
        assert_eq!(lines[1].chars().count(), 500);
        assert!(lines[1].ends_with('…'));
        assert_eq!(lines[2], "last");
        let exact = "x".repeat(500);
        assert_eq!(tail(&exact, 1), vec![exact.clone()]);
    }

    #[test]
    fn headings_follow_krane() {
        let mut d = Diagnosis {
            verdict: Verdict::Failed,
            workload: "Deployment/auth".into(),
            new_replica_set: Some("auth-7cdc9bd4f".into()),
            final_status: "4 replicas, 1 updatedReplica, 3 availableReplicas".into(),
            pod_problems: vec![],
            events: vec![],
            suppressed_events: 0,
            logs: None,
        };
        assert_eq!(d.heading(), "Deployment/auth: FAILED");
        d.verdict = Verdict::TimedOut {
            deadline: Duration::from_secs(600),
        };
        assert_eq!(
            d.heading(),
            "Deployment/auth: TIMED OUT (progress deadline: 600s)"
        );
    }
}
