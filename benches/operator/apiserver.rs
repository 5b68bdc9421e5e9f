//! Kubernetes API requests, counted by the API server itself (`apiserver_request_total` from its
//! `/metrics`, read with the benchmark's admin client): how much work each ApiCredential costs the
//! control plane.
//!
//! Reads only; the counts include the benchmark's own applies and polls, which the caller
//! accounts for.

use std::collections::BTreeMap;

use crate::BenchResult;

/// Requests per (verb, resource[/subresource]).
pub type Counts = BTreeMap<(String, String), u64>;

/// The API server's request counters now.
pub async fn request_counts(client: &kube::Client) -> BenchResult<Counts> {
    let request = axum::http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    let mut counts = Counts::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|pair| pair.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .unwrap_or_default()
        };
        let resource = match label("subresource").as_str() {
            "" => label("resource"),
            sub => format!("{}/{sub}", label("resource")),
        };
        let n = value.trim().parse::<f64>().unwrap_or(0.0) as u64;
        *counts.entry((label("verb"), resource)).or_default() += n;
    }
    Ok(counts)
}

/// `after - before`, per key, dropping zeros, watches and lists (the operator's lists are its
/// watches' initial lists; the benchmark's are its own).
pub fn delta(before: &Counts, after: &Counts) -> Counts {
    after
        .iter()
        .filter(|((verb, _), _)| verb != "WATCH" && verb != "LIST")
        .map(|(k, v)| (k.clone(), v.saturating_sub(before.get(k).copied().unwrap_or(0))))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// `GET secrets 3.02, PATCH apicredentials/status 2.00, …` per `per` objects, largest first.
pub fn per_object(counts: &Counts, per: usize, resources: &[&str]) -> String {
    let mut rows: Vec<(&(String, String), &u64)> = counts
        .iter()
        .filter(|((_, r), _)| resources.iter().any(|x| r.starts_with(x)))
        .collect();
    rows.sort_by(|a, b| b.1.cmp(a.1));
    rows.iter()
        .map(|((verb, resource), n)| format!("{verb} {resource} {:.2}", **n as f64 / per as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Requests to `resources` in `counts`.
pub fn total(counts: &Counts, resources: &[&str]) -> u64 {
    counts
        .iter()
        .filter(|((_, r), _)| resources.iter().any(|x| r.starts_with(x)))
        .map(|(_, n)| n)
        .sum()
}

/// `counts` as JSON rows `{verb, resource, per}` (per `per` objects), for the charts.
pub fn to_json(counts: &Counts, per: usize, resources: &[&str]) -> serde_json::Value {
    counts
        .iter()
        .filter(|((_, r), _)| resources.iter().any(|x| r.starts_with(x)))
        .map(|((verb, resource), n)| {
            serde_json::json!({"verb": verb, "resource": resource, "per": *n as f64 / per as f64})
        })
        .collect::<Vec<_>>()
        .into()
}
