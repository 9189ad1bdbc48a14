//! The Job controller: a Job gets one pod from its template (run by the simulated kubelet, so
//! the image tag decides its fate as for any pod); when that pod is Ready the Job is
//! `Complete`, when it crash-loops or cannot pull/start its image the Job is `Failed` with
//! `BackoffLimitExceeded`. The pod stays, with its status, events and logs, for diagnosis.
//! A Job's `spec.template` is immutable, as on a real cluster.

use crate::controllers::{controller_ref, owned_by};
use crate::store::{ApiError, State, res, status_error};
use crate::util::{self, name_of, ns_of, uid_of};
use serde_json::{Value, json};

const FATAL: &[&str] = &[
    "CrashLoopBackOff",
    "ErrImagePull",
    "ImagePullBackOff",
    "CreateContainerConfigError",
    "InvalidImageName",
    "ErrImageNeverPull",
];

pub(crate) fn reconcile(st: &mut State) {
    let Some(jobs) = crate::store::find_res("batch", "v1", "jobs") else {
        return;
    };
    for job in st.list(jobs, None) {
        let finished = job["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter().any(|c| {
                matches!(c["type"].as_str(), Some("Complete" | "Failed")) && c["status"] == "True"
            })
        });
        if finished {
            continue;
        }
        if job["status"]["startTime"].is_null() {
            start(st, jobs, &job);
            continue;
        }
        let pods: Vec<Value> = st
            .list(res("pods"), Some(&ns_of(&job)))
            .into_iter()
            .filter(|p| owned_by(p, &uid_of(&job)))
            .collect();
        let Some(pod) = pods.first() else { continue };
        if let Some(reason) = failure(pod) {
            finish(st, jobs, &job, false, &reason);
        } else if ready(pod) {
            finish(st, jobs, &job, true, "");
        }
    }
}

fn start(st: &mut State, jobs: &'static crate::store::ResDef, job: &Value) {
    let name = name_of(job);
    let uid = uid_of(job);
    let mut pod = json!({
        "metadata": job["spec"]["template"]["metadata"].clone(),
        "spec": job["spec"]["template"]["spec"].clone(),
    });
    pod["metadata"]["name"] = format!("{name}-{}", st.rng.suffix(5)).into();
    pod["metadata"]["namespace"] = ns_of(job).into();
    for (key, value) in [
        ("batch.kubernetes.io/job-name", name.clone()),
        ("job-name", name.clone()),
        ("batch.kubernetes.io/controller-uid", uid.clone()),
        ("controller-uid", uid.clone()),
    ] {
        util::obj_mut(&mut pod, "/metadata/labels").insert(key.into(), value.into());
    }
    pod["metadata"]["ownerReferences"] = json!([controller_ref(job, "Job", "batch/v1")]);
    let mut running = job.clone();
    running["status"] = json!({"startTime": util::now_str(), "active": 1, "ready": 0, "terminating": 0,
        "uncountedTerminatedPods": {}});
    st.replace(jobs, running);
    let _ = crate::api::create_object(st, res("pods"), &ns_of(job), pod, "kube-controller-manager");
}

fn failure(pod: &Value) -> Option<String> {
    let statuses = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .chain(pod["status"]["initContainerStatuses"].as_array())
        .flatten();
    for status in statuses {
        let waiting = status["state"]["waiting"]["reason"]
            .as_str()
            .unwrap_or_default();
        if FATAL.contains(&waiting) || status["restartCount"].as_i64().unwrap_or(0) >= 1 {
            return Some(waiting.to_string());
        }
    }
    None
}

fn ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn finish(
    st: &mut State,
    jobs: &'static crate::store::ResDef,
    job: &Value,
    succeeded: bool,
    _reason: &str,
) {
    let now = util::now_str();
    let mut done = job.clone();
    let status = &mut done["status"];
    status["active"] = 0.into();
    status["ready"] = 0.into();
    if succeeded {
        status["succeeded"] = 1.into();
        status["completionTime"] = now.clone().into();
        status["conditions"] = json!([
            {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"},
            {"type": "Complete", "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"}
        ]);
    } else {
        status["failed"] = 1.into();
        status["conditions"] = json!([
            {"type": "FailureTarget", "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"},
            {"type": "Failed", "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}
        ]);
    }
    st.replace(jobs, done);
}

/// A Job's pod template cannot change (422, the apiserver's message).
pub(crate) fn validate_update(
    rd: &crate::store::ResDef,
    cur: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    if rd.plural != "jobs" || cur["spec"]["template"] == new["spec"]["template"] {
        return Ok(());
    }
    let name = name_of(cur);
    Err(status_error(
        422,
        "Invalid",
        &format!(
            "Job.batch \"{name}\" is invalid: spec.template: Invalid value: core.PodTemplateSpec{{...}}: field is immutable"
        ),
        Some(
            json!({"name": name, "group": "batch", "kind": "Job", "causes": [
                {"reason": "FieldValueInvalid", "message": "Invalid value: core.PodTemplateSpec{...}: field is immutable", "field": "spec.template"}
            ]}),
        ),
    ))
}
