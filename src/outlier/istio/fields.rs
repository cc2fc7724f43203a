//! The walk over a `DestinationRule`'s fields: each mapping's keys are checked against the
//! fields Istio has (known and mapped, known and unsupported, or unknown).

use saphyr::{Scalar, Yaml};

use super::{istio_defaults, parse_duration, IstioError, PoolSettings};

type Result<T> = std::result::Result<T, IstioError>;

/// A mapping's entries, with the path to it.
struct Fields<'a, 'y> {
    path: String,
    entries: Vec<(&'a str, &'a Yaml<'y>)>,
}

fn join(path: &str, key: &str) -> String {
    match path.is_empty() {
        true => key.to_owned(),
        false => format!("{path}.{key}"),
    }
}

fn invalid(path: String, value: &Yaml<'_>, expected: &'static str) -> IstioError {
    let value = match value {
        Yaml::Value(Scalar::String(s)) => format!("{s:?}"),
        Yaml::Value(Scalar::Integer(i)) => i.to_string(),
        Yaml::Value(Scalar::FloatingPoint(f)) => f.to_string(),
        Yaml::Value(Scalar::Boolean(b)) => b.to_string(),
        Yaml::Value(Scalar::Null) => "null".into(),
        Yaml::Sequence(_) => "a list".into(),
        Yaml::Mapping(_) => "a mapping".into(),
        _ => "an unreadable value".into(),
    };
    IstioError::Invalid {
        field: path,
        value,
        expected,
    }
}

impl<'a, 'y> Fields<'a, 'y> {
    /// The entries of `node` (which must be a mapping with text keys, or null for empty).
    fn of(path: String, node: &'a Yaml<'y>) -> Result<Self> {
        let map = match node {
            Yaml::Mapping(map) => map,
            Yaml::Value(Scalar::Null) => {
                return Ok(Fields {
                    path,
                    entries: Vec::new(),
                })
            }
            other => return Err(invalid(path, other, "a mapping")),
        };
        let mut entries = Vec::with_capacity(map.len());
        for (key, value) in map {
            match key.as_str() {
                Some(key) => entries.push((key, value)),
                None => return Err(invalid(path, key, "text keys")),
            }
        }
        Ok(Fields { path, entries })
    }

    /// Check every key: `known` are handled by the caller, `unsupported` fail with why,
    /// `inert` have no effect on a pool; anything else is unknown.
    fn check(
        &self,
        known: &[&str],
        unsupported: &[(&str, &'static str)],
        inert: &[&str],
    ) -> Result<()> {
        for (key, _) in &self.entries {
            if known.contains(key) || inert.contains(key) {
                continue;
            }
            let field = join(&self.path, key);
            return Err(match unsupported.iter().find(|(k, _)| k == key) {
                Some((_, reason)) => IstioError::Unsupported { field, reason },
                None => IstioError::Unknown { field },
            });
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Option<&'a Yaml<'y>> {
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    fn child(&self, key: &str) -> Result<Option<Fields<'a, 'y>>> {
        self.get(key)
            .map(|node| Fields::of(join(&self.path, key), node))
            .transpose()
    }

    fn text(&self, key: &str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(node) => node
                .as_str()
                .map(Some)
                .ok_or_else(|| invalid(join(&self.path, key), node, "text")),
        }
    }

    /// An integer in `0..=max`.
    fn number(&self, key: &str, max: u64, expected: &'static str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(node) => match node.as_integer().and_then(|i| u64::try_from(i).ok()) {
                Some(n) if n <= max => Ok(Some(n)),
                _ => Err(invalid(join(&self.path, key), node, expected)),
            },
        }
    }

    fn duration(&self, key: &str) -> Result<Option<std::time::Duration>> {
        match self.get(key) {
            None => Ok(None),
            Some(node) => node
                .as_str()
                .and_then(parse_duration)
                .map(Some)
                .ok_or_else(|| invalid(join(&self.path, key), node, "a duration like 30s")),
        }
    }
}

const MESH_ONLY: &str = "it configures the mesh, not a client-side pool";

pub(super) fn destination_rule(doc: &Yaml<'_>) -> Result<PoolSettings> {
    let root = Fields::of(String::new(), doc)?;
    root.check(
        &["apiVersion", "kind", "metadata", "spec"],
        &[],
        &["status"],
    )?;
    if let Some(kind) = root.text("kind")? {
        if kind != "DestinationRule" {
            return Err(invalid(
                "kind".into(),
                root.get("kind").unwrap_or(doc),
                "DestinationRule",
            ));
        }
    }
    if let Some(api) = root.text("apiVersion")? {
        if !api.starts_with("networking.istio.io/") {
            let node = root.get("apiVersion").unwrap_or(doc);
            return Err(invalid(
                "apiVersion".into(),
                node,
                "networking.istio.io/...",
            ));
        }
    }
    let mut name = None;
    if let Some(metadata) = root.child("metadata")? {
        // Kubernetes object metadata: no effect on the pool.
        let inert = [
            "namespace",
            "labels",
            "annotations",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
        ];
        metadata.check(&["name"], &[], &inert)?;
        name = metadata.text("name")?;
    }
    let spec = root.child("spec")?.ok_or_else(|| IstioError::Invalid {
        field: "spec".into(),
        value: "none".into(),
        expected: "a spec with the host",
    })?;
    spec.check(
        &["host", "trafficPolicy"],
        &[
            (
                "subsets",
                "subsets need labels on endpoints, which a tower pool does not have",
            ),
            ("exportTo", MESH_ONLY),
            ("workloadSelector", MESH_ONLY),
        ],
        &[],
    )?;
    let host = spec.text("host")?.ok_or_else(|| IstioError::Invalid {
        field: "spec.host".into(),
        value: "none".into(),
        expected: "the host the rule is for",
    })?;
    let mut settings = PoolSettings {
        name: name.unwrap_or(host).to_owned(),
        host: host.to_owned(),
        max_connections: None,
        max_pending: None,
        max_requests_per_connection: None,
        outlier: None,
    };
    if let Some(policy) = spec.child("trafficPolicy")? {
        traffic_policy(&policy, &mut settings)?;
    }
    Ok(settings)
}

fn traffic_policy(policy: &Fields<'_, '_>, settings: &mut PoolSettings) -> Result<()> {
    policy.check(
        &["connectionPool", "outlierDetection"],
        &[
            (
                "loadBalancer",
                "the balancer is yours (tower::balance::p2c)",
            ),
            ("tls", "TLS is the client's (its connector)"),
            ("portLevelSettings", "a pool here is one port"),
            ("tunnel", MESH_ONLY),
            ("proxyProtocol", MESH_ONLY),
        ],
        &[],
    )?;
    if let Some(pool) = policy.child("connectionPool")? {
        pool.check(&["tcp", "http"], &[], &[])?;
        if let Some(tcp) = pool.child("tcp")? {
            let why = "no pool setting of breakwater matches it; set it on your connector";
            tcp.check(
                &["maxConnections"],
                &[
                    ("connectTimeout", why),
                    ("tcpKeepalive", why),
                    ("maxConnectionDuration", why),
                    ("idleTimeout", why),
                ],
                &[],
            )?;
            let max = tcp.number("maxConnections", u32::MAX.into(), "a count of 1 or more")?;
            settings.max_connections = max.map(|n| n as usize);
        }
        if let Some(http) = pool.child("http")? {
            let why = "no pool setting of breakwater matches it";
            http.check(
                &["http1MaxPendingRequests", "maxRequestsPerConnection"],
                &[
                    ("http2MaxRequests", why),
                    ("maxRetries", "use breakwater's retry layer and its budget"),
                    ("idleTimeout", why),
                    ("h2UpgradePolicy", why),
                    ("useClientProtocol", why),
                    ("maxConcurrentStreams", why),
                ],
                &[],
            )?;
            let pending = http.number("http1MaxPendingRequests", u32::MAX.into(), "a count")?;
            settings.max_pending = pending.map(|n| n as usize);
            let per = http.number("maxRequestsPerConnection", u32::MAX.into(), "a count")?;
            settings.max_requests_per_connection = per.filter(|n| *n > 0).map(|n| n as u32);
        }
    }
    if let Some(outlier) = policy.child("outlierDetection")? {
        settings.outlier = Some(outlier_detection(&outlier, &settings.name)?);
    }
    Ok(())
}

fn outlier_detection(od: &Fields<'_, '_>, name: &str) -> Result<super::Builder> {
    let local = "local-origin errors already count as gateway failures (Envoy's default split)";
    od.check(
        &[
            "consecutiveErrors",
            "consecutive5xxErrors",
            "consecutiveGatewayErrors",
            "interval",
            "baseEjectionTime",
            "maxEjectionPercent",
            "minHealthPercent",
        ],
        &[
            ("splitExternalLocalOriginErrors", local),
            ("consecutiveLocalOriginFailures", local),
        ],
        &[],
    )?;
    let count = |key| od.number(key, u32::MAX.into(), "a count");
    let percent = |key| od.number(key, 100, "a percentage from 0 to 100");
    let mut b = istio_defaults(name);
    // Istio's order: the deprecated field first, then the two that replace it.
    if let Some(n) = count("consecutiveErrors")?.filter(|n| *n > 0) {
        b = b
            .consecutive_gateway_failure(n as u32, 100)
            .consecutive_5xx(5, 0);
    }
    if let Some(n) = count("consecutive5xxErrors")? {
        b = match n {
            0 => b.consecutive_5xx(5, 0),
            n => b.consecutive_5xx(n as u32, 100),
        };
    }
    if let Some(n) = count("consecutiveGatewayErrors")? {
        b = match n {
            0 => b.consecutive_gateway_failure(5, 0),
            n => b.consecutive_gateway_failure(n as u32, 100),
        };
    }
    if let Some(interval) = od.duration("interval")? {
        b = b.interval(interval);
    }
    if let Some(base) = od.duration("baseEjectionTime")? {
        b = b.base_ejection_time(base);
    }
    if let Some(p) = percent("maxEjectionPercent")?.filter(|p| *p > 0) {
        b = b.max_ejection_percent(p as u8);
    }
    if let Some(p) = percent("minHealthPercent")? {
        b = b.min_health_percent(p as u8);
    }
    b.clone().validate()?;
    Ok(b)
}
