#![expect(clippy::unwrap_used, reason = "test code")]
//! HTTP-level tests of the test API server against the captured real answers.

mod common;
use common::{Watch, request, request_h};
use kube_test_api::{KubeApi, deployment};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ADMIN: &str = KubeApi::ADMIN_TOKEN;
const DEP: &str = "/apis/apps/v1/namespaces/shop/deployments/auth";
const SMP: &str = "application/strategic-merge-patch+json";

fn started(d: Value) -> KubeApi {
    let api = KubeApi::start();
    api.create_namespace("shop");
    api.create(d);
    assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(10)));
    api
}

fn set_image_body(image: &str) -> String {
    format!(
        "{{\"spec\":{{\"template\":{{\"spec\":{{\"$setElementOrder/containers\":[{{\"name\":\"auth\"}}],\"containers\":[{{\"image\":\"{image}\",\"name\":\"auth\"}}]}}}}}}}}"
    )
}

fn status_of(v: &Value) -> (i64, i64, i64, i64, i64) {
    let g = |k: &str| v["status"][k].as_i64().unwrap_or(0);
    (
        g("observedGeneration"),
        g("replicas"),
        g("updatedReplicas"),
        g("availableReplicas"),
        g("unavailableReplicas"),
    )
}

fn cond<'a>(v: &'a Value, t: &str) -> Option<&'a Value> {
    v["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == t)
}

fn wait_for(api: &KubeApi, path: &str, max: Duration, f: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + max;
    loop {
        if let Some(v) = api.get(path)
            && f(&v)
        {
            return v;
        }
        assert!(
            Instant::now() < end,
            "condition not reached for {path}: {:#}",
            api.get(path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn rolling_update_watch_sees_every_status_write() {
    let api = started(
        deployment("shop", "auth")
            .replicas(3)
            .max_surge(1)
            .max_unavailable(0)
            .build(),
    );
    let rv = api.get(DEP).unwrap()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    let mut w = Watch::open(
        &api.url(),
        &format!(
            "/apis/apps/v1/namespaces/shop/deployments?watch=1&fieldSelector=metadata.name%3Dauth&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=5"
        ),
        ADMIN,
    );
    assert_eq!(w.status, 200);
    let h = |k: &str| {
        w.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(h("transfer-encoding").as_deref(), Some("chunked"));
    assert_eq!(h("content-type").as_deref(), Some("application/json"));

    let r = request(
        &api.url(),
        "PATCH",
        &format!("{DEP}?fieldManager=kubectl-set"),
        Some(ADMIN),
        Some(SMP),
        &set_image_body("registry.local/auth:1.1.0"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let patched = r.json();
    assert_eq!(patched["metadata"]["generation"], 2);
    assert_eq!(
        patched["status"]["observedGeneration"], 1,
        "status lags right after the PATCH"
    );

    let events = w.collect_until(Instant::now() + Duration::from_secs(10), |e| {
        e["type"] == "MODIFIED"
            && cond(&e["object"], "Progressing")
                .is_some_and(|c| c["reason"] == "NewReplicaSetAvailable")
            && e["object"]["status"]["observedGeneration"] == 2
    });
    assert!(events.iter().all(|e| e["type"] == "MODIFIED"));
    let first = &events[0]["object"];
    assert_eq!(
        (
            first["metadata"]["generation"].as_i64(),
            first["status"]["observedGeneration"].as_i64()
        ),
        (Some(2), Some(1))
    );
    let seq: Vec<(i64, i64, i64, i64, i64)> =
        events.iter().map(|e| status_of(&e["object"])).collect();
    let replicas: Vec<i64> = seq.iter().filter(|s| s.0 == 2).map(|s| s.1).collect();
    let mut dedup = replicas.clone();
    dedup.dedup();
    assert!(
        dedup.windows(3).any(|w| w == [4, 3, 4]),
        "replicas 3→4→3→4: {seq:?}"
    );
    assert!(
        seq.iter().any(|s| s.2 == 3 && s.1 == 4),
        "updated 3 with 4 replicas before completion: {seq:?}"
    );
    assert_eq!(*seq.last().unwrap(), (2, 3, 3, 3, 0));
    let reasons: Vec<String> = events
        .iter()
        .filter_map(|e| {
            cond(&e["object"], "Progressing").map(|c| c["reason"].as_str().unwrap().to_string())
        })
        .collect();
    assert!(reasons.contains(&"ReplicaSetUpdated".to_string()));
    assert!(
        events
            .iter()
            .all(|e| cond(&e["object"], "Available").unwrap()["status"] == "True")
    );
    let updated: Vec<i64> = seq.iter().map(|s| s.2).collect();
    assert!(
        updated.windows(2).all(|w| w[0] <= w[1] || w[1] == 0),
        "{updated:?}"
    );
    // The stream ends with a BOOKMARK ~2 s before timeoutSeconds, then closes cleanly.
    let rest = w.collect_until(Instant::now() + Duration::from_secs(6), |e| {
        e["type"] == "BOOKMARK"
    });
    let bm = rest.last().unwrap();
    assert_eq!(bm["type"], "BOOKMARK");
    assert_eq!(bm["object"]["kind"], "Deployment");
    assert!(bm["object"]["metadata"]["resourceVersion"].is_string());
    assert_eq!(w.next(Duration::from_secs(4)), Ok(None));

    // ReplicaSets: new one revision 2 scaled 1→2→3, old one revision 1 kept at 0.
    let rss = api.list("/apis/apps/v1/namespaces/shop/replicasets");
    assert_eq!(rss.len(), 2);
    for rs in &rss {
        let rev = rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
            .as_str()
            .unwrap();
        let hash = rs["metadata"]["labels"]["pod-template-hash"]
            .as_str()
            .unwrap();
        assert_eq!(rs["metadata"]["name"], format!("auth-{hash}"));
        assert_eq!(
            rs["metadata"]["ownerReferences"][0]["uid"],
            patched["metadata"]["uid"]
        );
        assert_eq!(
            rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"],
            "4"
        );
        assert_eq!(rs["spec"]["replicas"], if rev == "2" { 3 } else { 0 });
    }
    let evs = request(&api.url(), "GET", "/api/v1/namespaces/shop/events?fieldSelector=involvedObject.kind%3DDeployment%2CinvolvedObject.name%3Dauth", Some(ADMIN), None, "").json();
    let msgs: Vec<&str> = evs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("Scaled down replica set auth-") && m.ends_with("to 2 from 3")),
        "{msgs:?}"
    );
    assert!(evs["items"].as_array().unwrap().iter().all(|e| e["source"]["component"] == "deployment-controller" && e.get("kind").is_none()));
}

#[test]
fn watch_without_resource_version_starts_with_added_and_times_out() {
    let api = started(deployment("shop", "auth").build());
    let mut w = Watch::open(
        &api.url(),
        "/apis/apps/v1/namespaces/shop/deployments?watch=true&timeoutSeconds=1",
        ADMIN,
    );
    let ev = w.next(Duration::from_secs(3)).unwrap().unwrap();
    assert_eq!(ev["type"], "ADDED");
    assert_eq!(ev["object"]["metadata"]["name"], "auth");
    assert_eq!(ev["object"]["kind"], "Deployment");
    assert_eq!(w.next(Duration::from_secs(3)), Ok(None));
}

#[test]
fn watch_from_expired_history_gets_410_error_event() {
    let api = started(deployment("shop", "auth").build());
    api.expire_watch_history();
    let now = api.resource_version();
    let mut w = Watch::open(
        &api.url(),
        "/apis/apps/v1/namespaces/shop/deployments?watch=1&resourceVersion=1",
        ADMIN,
    );
    assert_eq!(w.status, 200);
    let ev = w.next(Duration::from_secs(3)).unwrap().unwrap();
    assert_eq!(
        ev,
        json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("too old resource version: 1 ({now})"), "reason": "Expired", "code": 410}})
    );
    assert_eq!(w.next(Duration::from_secs(3)), Ok(None));
    // A watch from the current resourceVersion is fine.
    let mut ok = Watch::open(
        &api.url(),
        &format!(
            "/apis/apps/v1/namespaces/shop/deployments?watch=1&resourceVersion={now}&timeoutSeconds=1"
        ),
        ADMIN,
    );
    assert_eq!(ok.next(Duration::from_secs(3)), Ok(None));
}

#[test]
fn disconnect_cuts_watches_without_final_event() {
    let api = started(deployment("shop", "auth").build());
    let rv = api.resource_version();
    let mut w = Watch::open(
        &api.url(),
        &format!("/api/v1/namespaces/shop/pods?watch=1&resourceVersion={rv}"),
        ADMIN,
    );
    std::thread::sleep(Duration::from_millis(100));
    api.disconnect_watches();
    assert!(
        w.next(Duration::from_secs(3)).is_err(),
        "the connection is cut, no clean end"
    );
}

#[test]
fn watchlist_request_is_rejected_like_1_24() {
    let api = started(deployment("shop", "auth").build());
    let r = request(
        &api.url(),
        "GET",
        "/apis/apps/v1/namespaces/shop/deployments?allowWatchBookmarks=true&fieldSelector=metadata.name%3Dauth&resourceVersionMatch=NotOlderThan&sendInitialEvents=true&timeoutSeconds=428&watch=true",
        Some(ADMIN),
        None,
        "",
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json(),
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ListOptions.meta.k8s.io \"\" is invalid: [resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch, resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided]","reason":"Invalid","details":{"group":"meta.k8s.io","kind":"ListOptions","causes":[{"reason":"FieldValueForbidden","message":"Forbidden: resourceVersionMatch is forbidden for watch","field":"resourceVersionMatch"},{"reason":"FieldValueForbidden","message":"Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided","field":"resourceVersionMatch"}]},"code":422})
    );
}

#[test]
fn strategic_merge_patch_cases_from_the_captures() {
    let api = started(deployment("shop", "auth").build());
    let url = api.url();
    // 08-08: a container name that does not exist is added (first), not an error.
    let r = request(
        &url,
        "PATCH",
        DEP,
        Some(ADMIN),
        Some(SMP),
        r#"{"spec":{"template":{"spec":{"containers":[{"image":"registry.local/auth:2.0.0","name":"web"}]}}}}"#,
    );
    assert_eq!(r.status, 200);
    let d = r.json();
    let names: Vec<&str> = d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "auth"]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent",
        "defaults filled in"
    );
    assert_eq!(d["metadata"]["generation"], 2);
    wait_for(&api, DEP, Duration::from_secs(5), |d| {
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    });
    // 08-21: $patch: delete removes it again.
    let r = request(
        &url,
        "PATCH",
        &format!("{DEP}?fieldManager=shipgate"),
        Some(ADMIN),
        Some(SMP),
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","$patch":"delete"}]}}}}"#,
    );
    let d = r.json();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(d["metadata"]["generation"], 3);
    // The template equals the first one again: the controller re-uses that ReplicaSet.
    let d = wait_for(&api, DEP, Duration::from_secs(5), |d| {
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    });
    let rss = api.list("/apis/apps/v1/namespaces/shop/replicasets");
    assert_eq!(rss.len(), 2);
    let reused = rss
        .iter()
        .find(|r| r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3")
        .unwrap();
    assert_eq!(
        reused["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"],
        "1"
    );
    let _ = d;
    // rollout pause / resume bodies.
    let d = request(
        &url,
        "PATCH",
        &format!("{DEP}?fieldManager=kubectl-rollout"),
        Some(ADMIN),
        Some(SMP),
        r#"{"spec":{"paused":true}}"#,
    )
    .json();
    assert_eq!(d["spec"]["paused"], true);
    let d = request(
        &url,
        "PATCH",
        &format!("{DEP}?fieldManager=kubectl-rollout"),
        Some(ADMIN),
        Some(SMP),
        r#"{"spec":{"paused":null}}"#,
    )
    .json();
    assert!(d["spec"].get("paused").is_none());
    assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(50));
    // Server-side dry run validates and answers, but stores nothing.
    let before = api.get(DEP).unwrap();
    let r = request(
        &url,
        "PATCH",
        &format!("{DEP}?dryRun=All"),
        Some(ADMIN),
        Some(SMP),
        &set_image_body("registry.local/auth:dry"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.local/auth:dry"
    );
    assert_eq!(api.get(DEP).unwrap(), before);
    let r = request(
        &url,
        "PATCH",
        &format!("{DEP}?dryRun=All"),
        Some(ADMIN),
        Some(SMP),
        &set_image_body(""),
    );
    assert_eq!(r.status, 422);
    // A no-op patch does not bump resourceVersion or generation.
    let before = api.get(DEP).unwrap();
    let after = request(
        &url,
        "PATCH",
        DEP,
        Some(ADMIN),
        Some(SMP),
        r#"{"spec":{"replicas":1}}"#,
    )
    .json();
    assert_eq!(
        before["metadata"]["resourceVersion"],
        after["metadata"]["resourceVersion"]
    );
    // Merge patch (05-01): generation bumps although the template is unchanged.
    let d = request(
        &url,
        "PATCH",
        DEP,
        Some(ADMIN),
        Some("application/merge-patch+json"),
        r#"{"spec":{"progressDeadlineSeconds":15}}"#,
    )
    .json();
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 15);
    assert_eq!(
        d["metadata"]["generation"].as_i64(),
        before["metadata"]["generation"].as_i64().map(|g| g + 1)
    );
    // JSON patch like `rollout undo`, with a passing test op.
    let d = wait_for(&api, DEP, Duration::from_secs(5), |d| {
        d["status"]["observedGeneration"] == d["metadata"]["generation"]
    });
    std::thread::sleep(Duration::from_millis(50));
    let d = api.get(DEP).unwrap_or(d);
    let rv = d["metadata"]["resourceVersion"].as_str().unwrap();
    let body = format!(
        r#"[{{"op":"test","path":"/metadata/resourceVersion","value":"{rv}"}},{{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"registry.local/auth:1.0.1"}}]"#
    );
    let r = request(
        &url,
        "PATCH",
        DEP,
        Some(ADMIN),
        Some("application/json-patch+json"),
        &body,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.local/auth:1.0.1"
    );
}

#[test]
fn patch_error_answers_match_the_real_ones() {
    let api = started(deployment("shop", "auth").build());
    let url = api.url();
    // 08-09
    let r = request(
        &url,
        "PATCH",
        DEP,
        Some(ADMIN),
        Some("application/json"),
        r#"{"spec":{"replicas":2}}"#,
    );
    assert_eq!(
        (r.status, r.json()),
        (
            415,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"415: Unsupported Media Type","reason":"UnsupportedMediaType","details":{},"code":415})
        )
    );
    // 08-10
    let r = request(
        &url,
        "PATCH",
        DEP,
        Some(ADMIN),
        Some(SMP),
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"auth","image":"x"#,
    );
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"unexpected end of JSON input","reason":"BadRequest","code":400})
        )
    );
    // 08-07
    let r = request(
        &url,
        "PATCH",
        DEP,
        Some(ADMIN),
        Some(SMP),
        &set_image_body(""),
    );
    assert_eq!(
        (r.status, r.json()),
        (
            422,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Deployment.apps \"auth\" is invalid: spec.template.spec.containers[0].image: Required value","reason":"Invalid","details":{"name":"auth","group":"apps","kind":"Deployment","causes":[{"reason":"FieldValueRequired","message":"Required value","field":"spec.template.spec.containers[0].image"}]},"code":422})
        )
    );
    // 08-05: stale resourceVersion as a precondition in a merge patch.
    let conflict = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on deployments.apps \"auth\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"auth","group":"apps","kind":"deployments"},"code":409});
    let r = request(
        &url,
        "PATCH",
        DEP,
        Some(ADMIN),
        Some("application/merge-patch+json"),
        r#"{"metadata":{"resourceVersion":"2"},"spec":{"replicas":2}}"#,
    );
    assert_eq!((r.status, r.json()), (409, conflict.clone()));
    // JSON patch whose test op fails.
    let r = request(
        &url,
        "PATCH",
        DEP,
        Some(ADMIN),
        Some("application/json-patch+json"),
        r#"[{"op":"test","path":"/metadata/resourceVersion","value":"2"},{"op":"replace","path":"/spec/replicas","value":2}]"#,
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["details"]["causes"][0]["message"],
        "testing value /metadata/resourceVersion failed: test failed"
    );
    // 08-04: PUT with a stale resourceVersion.
    let mut d = api.get(DEP).unwrap();
    d["metadata"]["resourceVersion"] = "2".into();
    let r = request(
        &url,
        "PUT",
        DEP,
        Some(ADMIN),
        Some("application/json"),
        &d.to_string(),
    );
    assert_eq!((r.status, r.json()), (409, conflict));
    // 08-03: PUT with the current one, label only: generation unchanged.
    let mut d = api.get(DEP).unwrap();
    d["metadata"]["labels"]["team"] = "identity".into();
    let r = request(
        &url,
        "PUT",
        DEP,
        Some(ADMIN),
        Some("application/json"),
        &d.to_string(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["metadata"]["generation"],
        d["metadata"]["generation"]
    );
    assert_ne!(
        r.json()["metadata"]["resourceVersion"],
        d["metadata"]["resourceVersion"]
    );
}

#[test]
fn status_errors_match_the_captures() {
    let api = started(deployment("shop", "auth").build());
    let url = api.url();
    let r = request(
        &url,
        "GET",
        "/apis/apps/v1/namespaces/shop/deployments/nosuch",
        Some(ADMIN),
        None,
        "",
    );
    assert_eq!(
        (r.status, r.json()),
        (
            404,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \"nosuch\" not found","reason":"NotFound","details":{"name":"nosuch","group":"apps","kind":"deployments"},"code":404})
        )
    );
    let body = deployment("shop", "auth").build().to_string();
    let r = request(
        &url,
        "POST",
        "/apis/apps/v1/namespaces/shop/deployments",
        Some(ADMIN),
        Some("application/json"),
        &body,
    );
    assert_eq!(
        (r.status, r.json()),
        (
            409,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \"auth\" already exists","reason":"AlreadyExists","details":{"name":"auth","group":"apps","kind":"deployments"},"code":409})
        )
    );
    let r = request(
        &url,
        "POST",
        "/apis/apps/v1/namespaces/nosuchns/deployments",
        Some(ADMIN),
        Some("application/json"),
        &deployment("nosuchns", "x").build().to_string(),
    );
    assert_eq!(
        (r.status, r.json()),
        (
            404,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"namespaces \"nosuchns\" not found","reason":"NotFound","details":{"name":"nosuchns","kind":"namespaces"},"code":404})
        )
    );
    let r = request(
        &url,
        "GET",
        "/apis/apps/v1/namespaces/shop/deployments?labelSelector=app%20in%20%28a",
        Some(ADMIN),
        None,
        "",
    );
    assert_eq!(
        (r.status, r.json()),
        (
            400,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"unable to parse requirement: found '', expected: ',' or ')'","reason":"BadRequest","code":400})
        )
    );
    let r = request(
        &url,
        "GET",
        "/apis/apps/v1/namespaces/shop/deployments?labelSelector=app%3D%3D",
        Some(ADMIN),
        None,
        "",
    );
    assert_eq!(
        (r.status, r.json()["items"].as_array().unwrap().len()),
        (200, 0),
        "app== is valid and matches nothing"
    );
    let r = request(&url, "GET", DEP, Some("bogus"), None, "");
    assert_eq!(
        (r.status, r.json()),
        (
            401,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})
        )
    );
    let r = request(&url, "GET", DEP, None, None, "");
    assert_eq!(
        (r.status, r.json()),
        (
            403,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \"auth\" is forbidden: User \"system:anonymous\" cannot get resource \"deployments\" in API group \"apps\" in the namespace \"shop\"","reason":"Forbidden","details":{"name":"auth","group":"apps","kind":"deployments"},"code":403})
        )
    );
    // POST returns 201 with status {} (02-02).
    let r = request(
        &url,
        "POST",
        "/apis/apps/v1/namespaces/shop/deployments",
        Some(ADMIN),
        Some("application/json"),
        &deployment("shop", "other").build().to_string(),
    );
    assert_eq!(r.status, 201);
    let d = r.json();
    assert_eq!(d["status"], json!({}));
    assert_eq!(d["metadata"]["generation"], 1);
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
    assert_eq!(
        d["spec"]["strategy"]["rollingUpdate"],
        json!({"maxSurge": "25%", "maxUnavailable": "25%"})
    );
}

#[test]
fn rbac_and_selfsubjectaccessreviews() {
    let api = started(deployment("shop", "auth").build());
    let url = api.url();
    let sa = "system:serviceaccount:shop:deployer-restricted";
    api.add_user("restricted", sa, &[("get", "deployments")]);
    let ssar = |token: &str, verb: &str, resource: &str| {
        let body = json!({"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"namespace":"shop","verb":verb,"group":"apps","resource":resource,"name":"auth"}}});
        request(
            &url,
            "POST",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            Some(token),
            Some("application/json"),
            &body.to_string(),
        )
    };
    let r = ssar(ADMIN, "patch", "deployments");
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["status"], json!({"allowed": true}));
    let r = ssar("restricted", "patch", "deployments");
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (201, json!({"allowed": false}))
    );
    let r = ssar("restricted", "get", "deployments");
    assert_eq!(r.json()["status"]["allowed"], true);
    assert!(
        r.json()["status"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("RBAC: allowed by RoleBinding")
    );
    assert_eq!(ssar("bogus", "get", "deployments").status, 401);
    let r = request(
        &url,
        "PATCH",
        &format!("{DEP}?fieldManager=kubectl-set"),
        Some("restricted"),
        Some(SMP),
        &set_image_body("registry.local/auth:9"),
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json()["message"],
        format!(
            "deployments.apps \"auth\" is forbidden: User \"{sa}\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"shop\""
        )
    );
    let r = request(
        &url,
        "GET",
        "/apis/apps/v1/namespaces/shop/deployments",
        Some("restricted"),
        None,
        "",
    );
    assert_eq!(
        r.json(),
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":format!("deployments.apps is forbidden: User \"{sa}\" cannot list resource \"deployments\" in API group \"apps\" in the namespace \"shop\""),"reason":"Forbidden","details":{"group":"apps","kind":"deployments"},"code":403})
    );
    let r = request(
        &url,
        "POST",
        "/apis/coordination.k8s.io/v1/namespaces/shop/leases",
        Some("restricted"),
        Some("application/json"),
        r#"{"metadata":{"name":"l"}}"#,
    );
    assert_eq!(
        r.json()["message"],
        format!(
            "leases.coordination.k8s.io is forbidden: User \"{sa}\" cannot create resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"shop\""
        )
    );
    assert_eq!(
        request(&url, "GET", DEP, Some("restricted"), None, "").status,
        200
    );
    let reqs = api.requests();
    assert!(reqs.iter().any(|r| r.user == sa && r.method == "PATCH"));
}

#[test]
fn lease_lifecycle_like_client_go_leader_election() {
    let api = KubeApi::start();
    api.create_namespace("shop");
    let url = api.url();
    let base = "/apis/coordination.k8s.io/v1/namespaces/shop/leases";
    let l = format!("{base}/shipgate-deploy-lock");
    let body = r#"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"shipgate-deploy-lock","namespace":"shop"},"spec":{"holderIdentity":"run-1","leaseDurationSeconds":30,"acquireTime":"2026-11-22T10:41:07.182792Z","renewTime":"2026-11-22T10:41:07.182792Z","leaseTransitions":0}}"#;
    let r = request(
        &url,
        "POST",
        base,
        Some(ADMIN),
        Some("application/json"),
        body,
    );
    assert_eq!(r.status, 201);
    let created = r.json();
    assert_eq!(created["spec"]["renewTime"], "2026-11-22T10:41:07.182792Z");
    let r = request(
        &url,
        "POST",
        base,
        Some(ADMIN),
        Some("application/json"),
        body,
    );
    assert_eq!(
        (r.status, r.json()),
        (
            409,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"leases.coordination.k8s.io \"shipgate-deploy-lock\" already exists","reason":"AlreadyExists","details":{"name":"shipgate-deploy-lock","group":"coordination.k8s.io","kind":"leases"},"code":409})
        )
    );
    let mut renew = created.clone();
    renew["spec"]["renewTime"] = "2026-11-22T10:41:17.000000Z".into();
    let r = request(
        &url,
        "PUT",
        &l,
        Some(ADMIN),
        Some("application/json"),
        &renew.to_string(),
    );
    assert_eq!(r.status, 200);
    let renewed = r.json();
    let mut takeover = created.clone();
    takeover["spec"]["holderIdentity"] = "run-2".into();
    let r = request(
        &url,
        "PUT",
        &l,
        Some(ADMIN),
        Some("application/json"),
        &takeover.to_string(),
    );
    assert_eq!(
        (r.status, r.json()["message"].as_str().unwrap()),
        (
            409,
            "Operation cannot be fulfilled on leases.coordination.k8s.io \"shipgate-deploy-lock\": the object has been modified; please apply your changes to the latest version and try again"
        )
    );
    let rv = renewed["metadata"]["resourceVersion"].as_str().unwrap();
    let r = request(
        &url,
        "PATCH",
        &l,
        Some(ADMIN),
        Some("application/merge-patch+json"),
        &format!(r#"{{"metadata":{{"resourceVersion":"{rv}"}},"spec":{{"holderIdentity":null}}}}"#),
    );
    assert_eq!(r.status, 200);
    let released = r.json();
    assert!(released["spec"].get("holderIdentity").is_none());
    let r = request(
        &url,
        "DELETE",
        &l,
        Some(ADMIN),
        Some("application/json"),
        &format!(r#"{{"preconditions":{{"resourceVersion":"{rv}"}}}}"#),
    );
    let now_rv = released["metadata"]["resourceVersion"].as_str().unwrap();
    assert_eq!(
        (r.status, r.json()),
        (
            409,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":format!("Operation cannot be fulfilled on Lease.coordination.k8s.io \"shipgate-deploy-lock\": the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({now_rv}). The object might have been modified"),"reason":"Conflict","details":{"name":"shipgate-deploy-lock","group":"coordination.k8s.io","kind":"Lease"},"code":409})
        )
    );
    let uid = released["metadata"]["uid"].as_str().unwrap();
    let r = request(
        &url,
        "DELETE",
        &l,
        Some(ADMIN),
        Some("application/json"),
        &format!(r#"{{"preconditions":{{"uid":"{uid}","resourceVersion":"{now_rv}"}}}}"#),
    );
    assert_eq!(
        (r.status, r.json()),
        (
            200,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"shipgate-deploy-lock","group":"coordination.k8s.io","kind":"leases","uid":uid}})
        )
    );
    let nf = json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"leases.coordination.k8s.io \"shipgate-deploy-lock\" not found","reason":"NotFound","details":{"name":"shipgate-deploy-lock","group":"coordination.k8s.io","kind":"leases"},"code":404});
    let r = request(&url, "GET", &l, Some(ADMIN), None, "");
    assert_eq!((r.status, r.json()), (404, nf.clone()));
    let r = request(&url, "DELETE", &l, Some(ADMIN), None, "");
    assert_eq!((r.status, r.json()), (404, nf));
}

fn pod_of(api: &KubeApi, image: &str) -> Value {
    let name = format!("p-{}", image.rsplit(':').next().unwrap().replace('.', "-"));
    api.create(json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":name,"namespace":"shop"},"spec":{"containers":[{"name":"auth","image":image}]}}))
}

fn wait_pod(api: &KubeApi, name: &str, f: impl Fn(&Value) -> bool) -> Value {
    wait_for(
        api,
        &format!("/api/v1/namespaces/shop/pods/{name}"),
        Duration::from_secs(8),
        f,
    )
}

fn waiting_reason(p: &Value) -> Option<&str> {
    p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"].as_str()
}

#[test]
fn missing_image_pull_cycle_events_and_logs() {
    let api = KubeApi::start();
    api.create_namespace("shop");
    let p = pod_of(&api, "registry.local/auth:missing");
    let name = p["metadata"]["name"].as_str().unwrap().to_string();
    assert_eq!(
        p["status"],
        json!({"phase": "Pending", "qosClass": "BestEffort"})
    );
    let p = wait_pod(&api, &name, |p| waiting_reason(p) == Some("ErrImagePull"));
    let msg = p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
        .as_str()
        .unwrap();
    assert!(
        msg.contains("not found") && msg.contains("manifest unknown"),
        "{msg}"
    );
    assert_eq!(p["status"]["phase"], "Pending");
    let url = api.url();
    let log = request(
        &url,
        "GET",
        &format!("/api/v1/namespaces/shop/pods/{name}/log?container=auth"),
        Some(ADMIN),
        None,
        "",
    );
    assert_eq!(log.status, 400);
    let lm = log.json()["message"].as_str().unwrap().to_string();
    assert!(
        lm.starts_with(&format!(
            "container \"auth\" in pod \"{name}\" is waiting to start: "
        )),
        "{lm}"
    );
    let p = wait_pod(&api, &name, |p| {
        waiting_reason(p) == Some("ImagePullBackOff")
    });
    assert!(
        p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Back-off pulling image \"registry.local/auth:missing\": ErrImagePull: ")
    );
    wait_pod(&api, &name, |p| waiting_reason(p) == Some("ErrImagePull"));
    let evs = request(
        &url,
        "GET",
        &format!("/api/v1/namespaces/shop/events?fieldSelector=involvedObject.name%3D{name}"),
        Some(ADMIN),
        None,
        "",
    )
    .json();
    let items = evs["items"].as_array().unwrap();
    let reasons: Vec<(&str, &str)> = items
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["reason"].as_str().unwrap()))
        .collect();
    for want in [
        ("Normal", "Scheduled"),
        ("Normal", "Pulling"),
        ("Warning", "Failed"),
        ("Normal", "BackOff"),
    ] {
        assert!(reasons.contains(&want), "{want:?} in {reasons:?}");
    }
    let pulling = items.iter().find(|e| e["reason"] == "Pulling").unwrap();
    assert!(
        pulling["count"].as_i64().unwrap() >= 2,
        "repeated events are aggregated: {pulling}"
    );
    assert_eq!(
        pulling["involvedObject"]["fieldPath"],
        "spec.containers{auth}"
    );
    assert!(items.iter().any(|e| e["message"] == "Error: ErrImagePull"));
}

#[test]
fn crash_loop_restarts_and_previous_logs() {
    let api = KubeApi::start();
    api.create_namespace("shop");
    let p = pod_of(&api, "registry.local/auth:crash");
    let name = p["metadata"]["name"].as_str().unwrap().to_string();
    let p = wait_pod(&api, &name, |p| {
        waiting_reason(p) == Some("CrashLoopBackOff")
    });
    let cs = &p["status"]["containerStatuses"][0];
    assert_eq!(
        cs["state"]["waiting"]["message"],
        "back-off 10s restarting failed container"
    );
    assert_eq!(cs["restartCount"], 1);
    assert_eq!(cs["lastState"]["terminated"]["exitCode"], 1);
    assert_eq!(cs["lastState"]["terminated"]["reason"], "Error");
    assert_eq!(p["status"]["phase"], "Running");
    let url = api.url();
    let prev = request(
        &url,
        "GET",
        &format!(
            "/api/v1/namespaces/shop/pods/{name}/log?container=auth&previous=true&tailLines=2"
        ),
        Some(ADMIN),
        None,
        "",
    );
    assert_eq!(prev.status, 200);
    assert_eq!(prev.header("content-type"), Some("text/plain"));
    let lines: Vec<&str> = prev.body.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[1].ends_with("FATAL auth: exiting with code 1"),
        "{lines:?}"
    );
    let cur = request(
        &url,
        "GET",
        &format!("/api/v1/namespaces/shop/pods/{name}/log"),
        Some(ADMIN),
        None,
        "",
    );
    assert!(cur.body.contains("(instance 2)"), "{}", cur.body);
    let p = wait_pod(&api, &name, |p| {
        p["status"]["containerStatuses"][0]["restartCount"].as_i64() >= Some(2)
            && waiting_reason(p) == Some("CrashLoopBackOff")
    });
    assert_eq!(
        p["status"]["containerStatuses"][0]["state"]["waiting"]["message"],
        "back-off 20s restarting failed container"
    );
    let evs = request(
        &url,
        "GET",
        &format!("/api/v1/namespaces/shop/events?fieldSelector=involvedObject.name%3D{name}"),
        Some(ADMIN),
        None,
        "",
    )
    .json();
    assert!(
        evs["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason"] == "BackOff"
                && e["type"] == "Warning"
                && e["message"].as_str().unwrap().starts_with(&format!(
                    "Back-off restarting failed container auth in pod {name}_shop("
                )))
    );
}

#[test]
fn every_image_tag_behaviour() {
    let api = KubeApi::start();
    api.create_namespace("shop");
    let term = |p: &Value| p["status"]["containerStatuses"][0]["lastState"]["terminated"].clone();
    let n = |p: &Value| p["metadata"]["name"].as_str().unwrap().to_string();
    let oom = pod_of(&api, "registry.local/auth:oom");
    let p = wait_pod(&api, &n(&oom), |p| {
        waiting_reason(p) == Some("CrashLoopBackOff")
    });
    assert_eq!(
        (term(&p)["reason"].as_str(), term(&p)["exitCode"].as_i64()),
        (Some("OOMKilled"), Some(137))
    );
    let bad = pod_of(&api, "registry.local/auth:badconfig");
    let p = wait_pod(&api, &n(&bad), |p| {
        waiting_reason(p) == Some("CreateContainerConfigError")
    });
    assert_eq!(
        p["status"]["containerStatuses"][0]["state"]["waiting"]["message"],
        "secret \"app-secrets\" not found"
    );
    let un = pod_of(&api, "registry.local/auth:unschedulable");
    let p = wait_pod(&api, &n(&un), |p| {
        p["status"]["conditions"][0]["reason"] == "Unschedulable"
    });
    assert_eq!(p["status"]["conditions"][0]["status"], "False");
    assert!(p["spec"].get("nodeName").is_none());
    let r = request(
        &api.url(),
        "GET",
        &format!("/api/v1/namespaces/shop/pods/{}/log?container=auth", n(&un)),
        Some(ADMIN),
        None,
        "",
    );
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    let unready = pod_of(&api, "registry.local/auth:unready");
    std::thread::sleep(Duration::from_millis(600));
    let p = api
        .get(&format!("/api/v1/namespaces/shop/pods/{}", n(&unready)))
        .unwrap();
    assert_eq!(
        (
            p["status"]["phase"].as_str(),
            p["status"]["containerStatuses"][0]["ready"].as_bool()
        ),
        (Some("Running"), Some(false))
    );
    let evs = api.list("/api/v1/namespaces/shop/events");
    assert!(evs.iter().any(|e| e["reason"] == "Unhealthy"
        && e["message"] == "Readiness probe failed: HTTP probe failed with statuscode: 503"));
    let never = pod_of(&api, "registry.local/auth:neverpull");
    wait_pod(&api, &n(&never), |p| {
        waiting_reason(p) == Some("ErrImageNeverPull")
    });
    let denied = pod_of(&api, "registry.local/auth:pull-denied");
    let p = wait_pod(&api, &n(&denied), |p| {
        waiting_reason(p) == Some("ErrImagePull")
    });
    let msg = p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
        .as_str()
        .unwrap();
    assert!(
        msg.contains("401 Unauthorized") && !msg.contains("not found"),
        "{msg}"
    );
    let invalid = api.create(json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p-invalid","namespace":"shop"},"spec":{"containers":[{"name":"auth","image":"registry.local/Auth:1.0"}]}}));
    wait_pod(&api, &n(&invalid), |p| {
        waiting_reason(p) == Some("InvalidImageName")
    });
    let slow = pod_of(&api, "registry.local/auth:slow-600");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        api.get(&format!("/api/v1/namespaces/shop/pods/{}", n(&slow)))
            .unwrap()["status"]["containerStatuses"][0]["ready"],
        false
    );
    wait_pod(&api, &n(&slow), |p| {
        p["status"]["containerStatuses"][0]["ready"] == true
    });
}

#[test]
fn log_endpoint_answers() {
    let api = started(deployment("shop", "auth").build());
    let url = api.url();
    let pod = api.list("/api/v1/namespaces/shop/pods")[0]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let r = request(
        &url,
        "GET",
        &format!("/api/v1/namespaces/shop/pods/{pod}/log?container=auth&tailLines=1"),
        Some(ADMIN),
        None,
        "",
    );
    assert_eq!(r.status, 200);
    assert!(
        r.body.ends_with("auth: listening on :8080\n") && r.body.lines().count() == 1,
        "{}",
        r.body
    );
    let r = request(
        &url,
        "GET",
        &format!("/api/v1/namespaces/shop/pods/{pod}/log?container=web"),
        Some(ADMIN),
        None,
        "",
    );
    assert_eq!(
        r.json()["message"],
        format!("container web is not valid for pod {pod}")
    );
    let r = request(
        &url,
        "GET",
        &format!("/api/v1/namespaces/shop/pods/{pod}/log?container=auth&previous=true"),
        Some(ADMIN),
        None,
        "",
    );
    assert_eq!(
        (r.status, r.json()["message"].as_str().unwrap()),
        (
            400,
            format!("previous terminated container \"auth\" in pod \"{pod}\" not found").as_str()
        )
    );
    let r = request(
        &url,
        "GET",
        "/api/v1/namespaces/shop/pods/nosuch-pod/log?container=auth",
        Some(ADMIN),
        None,
        "",
    );
    assert_eq!(
        (r.status, r.json()),
        (
            404,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"nosuch-pod\" not found","reason":"NotFound","details":{"name":"nosuch-pod","kind":"pods"},"code":404})
        )
    );
}

#[test]
fn lists_selectors_pagination_and_tables() {
    let api = started(deployment("shop", "auth").replicas(3).build());
    let url = api.url();
    let l = request(
        &url,
        "GET",
        "/api/v1/namespaces/shop/pods?labelSelector=app%3Dauth%2Cpod-template-hash",
        Some(ADMIN),
        None,
        "",
    )
    .json();
    assert_eq!(l["kind"], "PodList");
    assert_eq!(l["items"].as_array().unwrap().len(), 3);
    assert!(
        l["items"][0].get("kind").is_none(),
        "list items carry no kind"
    );
    assert_eq!(
        request(
            &url,
            "GET",
            "/api/v1/namespaces/shop/pods?labelSelector=app%20notin%20%28auth%29",
            Some(ADMIN),
            None,
            ""
        )
        .json()["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let p1 = request(
        &url,
        "GET",
        "/api/v1/namespaces/shop/pods?limit=2",
        Some(ADMIN),
        None,
        "",
    )
    .json();
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    assert_eq!(p1["metadata"]["remainingItemCount"], 1);
    let cont = p1["metadata"]["continue"].as_str().unwrap();
    let p2 = request(
        &url,
        "GET",
        &format!("/api/v1/namespaces/shop/pods?limit=2&continue={cont}"),
        Some(ADMIN),
        None,
        "",
    )
    .json();
    assert_eq!(p2["items"].as_array().unwrap().len(), 1);
    assert!(p2["metadata"].get("continue").is_none());
    let t = request_h(
        &url,
        "GET",
        "/apis/apps/v1/namespaces/shop/deployments",
        Some(ADMIN),
        None,
        "",
        &[(
            "Accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )],
    )
    .json();
    assert_eq!(t["kind"], "Table");
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["priority"] == 0)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["Name", "Ready", "Up-to-date", "Available", "Age"]);
    assert_eq!(t["rows"][0]["cells"][1], "3/3");
    let v = request(&url, "GET", "/version", None, None, "").json();
    assert_eq!(v["gitVersion"], "v1.24.0+0");
    assert_eq!(request(&url, "GET", "/api", None, None, "").status, 403);
    assert_eq!(
        request(&url, "GET", "/api", Some(ADMIN), None, "").json()["serverAddressByClientCIDRs"][0]
            ["serverAddress"],
        url.trim_start_matches("http://")
    );
}

#[test]
fn recreate_and_history_limit() {
    let api = started(
        deployment("shop", "auth")
            .replicas(2)
            .recreate()
            .revision_history_limit(1)
            .build(),
    );
    let url = api.url();
    let rv = api.resource_version();
    let mut w = Watch::open(
        &url,
        &format!("/api/v1/namespaces/shop/pods?watch=1&resourceVersion={rv}&timeoutSeconds=3"),
        ADMIN,
    );
    request(
        &url,
        "PATCH",
        DEP,
        Some(ADMIN),
        Some(SMP),
        &set_image_body("registry.local/auth:2.0.0"),
    );
    let evs = w.collect_until(Instant::now() + Duration::from_secs(3), |_| false);
    let first_new_add = evs.iter().position(|e| e["type"] == "ADDED").unwrap();
    let deletions = evs.iter().filter(|e| e["type"] == "DELETED").count();
    assert_eq!(deletions, 2);
    assert!(
        evs[..first_new_add]
            .iter()
            .filter(|e| e["type"] == "DELETED")
            .count()
            == 2,
        "Recreate: all old pods gone before a new one"
    );
    assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(5)));
    request(
        &url,
        "PATCH",
        DEP,
        Some(ADMIN),
        Some(SMP),
        &set_image_body("registry.local/auth:3.0.0"),
    );
    assert!(api.wait_rolled_out("shop", "Deployment", "auth", Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(100));
    let rss = api.list("/apis/apps/v1/namespaces/shop/replicasets");
    assert_eq!(
        rss.len(),
        2,
        "revisionHistoryLimit 1 keeps one old ReplicaSet"
    );
}

#[test]
fn requests_watches_and_connections_are_counted() {
    let api = started(deployment("shop", "auth").image("auth", "r/auth:1").build());
    api.reset_counts();
    let r = request(&api.url(), "GET", DEP, Some(ADMIN), None, "");
    assert_eq!(r.status, 200);
    let mut pods = Watch::open(
        &api.url(),
        "/api/v1/namespaces/shop/pods?watch=true&resourceVersion=0",
        ADMIN,
    );
    assert_eq!(pods.status, 200);
    pods.next(Duration::from_secs(5)).unwrap();
    let counts = api.counts();
    assert_eq!(counts.requests("get", "deployments"), 1);
    assert_eq!(counts.requests("watch", "pods"), 1);
    assert_eq!(counts.watches_started[&("shop".into(), "pods".into())], 1);
    assert_eq!(counts.watches_open, 1);
    assert_eq!(counts.connections, 2);
    assert!(counts.connections_peak >= 1);
    api.disconnect_watches();
    drop(pods);
    let end = Instant::now() + Duration::from_secs(5);
    while api.counts().watches_open > 0 || api.counts().connections_open > 0 {
        assert!(Instant::now() < end, "{:?}", api.counts());
        std::thread::sleep(Duration::from_millis(10));
    }
    let counts = api.counts();
    assert_eq!(counts.watches_peak, 1);
    assert_eq!(counts.by_verb["watch"], 1);
}
