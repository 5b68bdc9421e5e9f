//! The figures the benchmark prints: rows of (measurement, result, target, verdict), and the
//! percentile helper. Formatting only; measuring is the scenarios' job.

use std::time::Duration;

/// One printed figure.
pub struct Row {
    pub what: String,
    pub measured: String,
    pub target: String,
    /// `Some(true)` when the target is met, `None` when there is no target.
    pub met: Option<bool>,
}

/// The rows collected so far, printed at the end (and on demand, so a failure shows what was
/// measured before it).
#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
    /// Raw figures for charts, written as JSON by [`Table::write_json`].
    data: serde_json::Map<String, serde_json::Value>,
}

impl Table {
    /// Keeps `value` under `key` in the JSON the charts are drawn from.
    pub fn record(&mut self, key: &str, value: serde_json::Value) {
        self.data.insert(key.to_string(), value);
    }

    /// Appends `value` to the array under `key`.
    pub fn append(&mut self, key: &str, value: serde_json::Value) {
        let entry = self
            .data
            .entry(key.to_string())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let serde_json::Value::Array(items) = entry {
            items.push(value);
        }
    }

    /// Writes the recorded figures and every printed row to `path` (JSON).
    pub fn write_json(&self, path: &std::path::Path) -> std::io::Result<()> {
        let mut data = self.data.clone();
        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|r| {
                serde_json::json!({"what": r.what, "measured": r.measured, "target": r.target, "met": r.met})
            })
            .collect();
        data.insert("rows".into(), rows.into());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&data)?)
    }

    /// A figure with a target.
    pub fn target(
        &mut self,
        what: impl Into<String>,
        measured: impl Into<String>,
        target: impl Into<String>,
        met: bool,
    ) {
        self.push(what.into(), measured.into(), target.into(), Some(met));
    }

    /// A figure without a target.
    pub fn info(&mut self, what: impl Into<String>, measured: impl Into<String>) {
        self.push(what.into(), measured.into(), String::new(), None);
    }

    fn push(&mut self, what: String, measured: String, target: String, met: Option<bool>) {
        println!(
            "  {what}: {measured}{}",
            if target.is_empty() {
                String::new()
            } else {
                format!(" (target {target})")
            }
        );
        self.rows.push(Row {
            what,
            measured,
            target,
            met,
        });
    }

    pub fn print(&self) {
        let w = |f: fn(&Row) -> usize| self.rows.iter().map(f).max().unwrap_or(0);
        let (a, b, c) = (
            w(|r| r.what.chars().count()).max(11),
            w(|r| r.measured.chars().count()).max(8),
            w(|r| r.target.chars().count()).max(6),
        );
        println!();
        println!("{:<a$}  {:>b$}  {:<c$}  ", "measurement", "measured", "target");
        println!("{}", "-".repeat(a + b + c + 10));
        for r in &self.rows {
            let verdict = match r.met {
                Some(true) => "ok",
                Some(false) => "MISSED",
                None => "",
            };
            println!(
                "{:<a$}  {:>b$}  {:<c$}  {verdict}",
                r.what,
                r.measured,
                r.target,
                a = a,
                b = b,
                c = c
            );
        }
    }
}

/// The `q` quantile (0..=1) of `sorted` (nearest rank).
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `12.3 ms`.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// `12.34 s`.
pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `40.1 MiB (anon 30.0, file 10.1)`.
pub fn memory(m: &crate::process::Memory) -> String {
    format!(
        "{} (anon {:.1}, file {:.1})",
        mib(m.rss_kib),
        m.anon_kib as f64 / 1024.0,
        m.file_kib as f64 / 1024.0
    )
}

/// `12.3 MiB`.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
