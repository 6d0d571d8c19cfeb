//! `report.html`: the whole run as one self-contained page, for people.
//!
//! One file with no external request: inline CSS, inline SVG, no script,
//! no font, no image file, no link to anything outside the page. It shows
//! the run's metadata, the results table (the one `run` prints, and every
//! `summary.csv` column in a folded table), every check with its verdict,
//! each sweep's knee and saturation chart, the percentile spectrum, each
//! case's per-second throughput, errors and p50/p99 latency, and a
//! comparison with a base run when one is given.
//!
//! Everything that comes from input (names, URLs, header values, check
//! expressions, warnings) goes through [`escape`]; the charts drawn by
//! `crate::plot` escape their own text. The page reads in a light or a
//! dark browser theme (`prefers-color-scheme`), prints without the
//! colours' backgrounds (`@media print`), and fits a phone: tables scroll
//! sideways inside their box, charts scale to the width.
//!
//! [`render`] is a pure function of a [`Page`]; `crate::report` gathers
//! the page's data from a run in memory or from a results folder.

use std::fmt::Write as _;

use crate::compare::{self, Comparison, Presence, Verdict as CompareVerdict};
use crate::metric::Metric;
use crate::results::run_json::RunInfo;
use crate::results::summary;
use crate::results::timeline::TimelineRow;
use crate::results::verdicts::Verdict;
use crate::results::CaseResult;

/// One sweep: the report's line about its knee and its saturation chart.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSection {
    /// The sweep's case name.
    pub name: String,
    /// The knee line, as `run` prints it.
    pub text: String,
    /// The saturation chart (SVG text from `crate::plot`), if drawn.
    pub svg: Option<String>,
}

/// One case's per-second timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseTimeline {
    /// The case (with `#K` for repetitions after the first).
    pub label: String,
    /// Its seconds, in order.
    pub rows: Vec<TimelineRow>,
}

/// Everything the page shows.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    /// The run's metadata.
    pub info: &'a RunInfo,
    /// The results, one per case and repetition.
    pub results: &'a [CaseResult],
    /// The checks' verdicts.
    pub verdicts: &'a [Verdict],
    /// The sweeps.
    pub sweeps: &'a [SweepSection],
    /// The percentile spectrum of every case (SVG text), if drawn.
    pub percentiles_svg: Option<&'a str>,
    /// The cases' timelines.
    pub timelines: &'a [CaseTimeline],
    /// The comparison with a base run, when one was given.
    pub comparison: Option<&'a Comparison>,
    /// What was left out, and why.
    pub warnings: &'a [String],
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && !matches!(c, '\n' | '\t') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root{--bg:#fff;--fg:#1b1f24;--muted:#5a6470;--line:#d6dbe1;--head:#f2f4f7;--pass:#17733a;--fail:#b42318;--warn:#9a6700;--s1:#1f5ab4;--s2:#d2591a;--s3:#2c8c50;--s4:#b42318;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--fg:#e3e7ec;--muted:#9aa4af;--line:#343b44;--head:#1b2027;--pass:#4cc38a;--fail:#ff7b72;--warn:#e3b341;--s1:#6ea8fe;--s2:#ff9f5a;--s3:#5fd08a;--s4:#ff7b72}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1240px;margin:0 auto;padding:16px}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin:1.4em 0 .5em;border-bottom:1px solid var(--line);padding-bottom:.2em}h3{font-size:1.05em;margin:1em 0 .4em}
.muted{color:var(--muted)}.pass{color:var(--pass);font-weight:600}.fail{color:var(--fail);font-weight:600}
.banner{display:inline-block;padding:.2em .7em;border:2px solid currentColor;border-radius:6px;font-weight:700}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em;margin:0}dl.meta dt{color:var(--muted)}dl.meta dd{margin:0;overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:.9em;width:max-content;min-width:100%}
th,td{padding:.3em .6em;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{background:var(--head);position:sticky;top:0}th:first-child,td:first-child,td.text,th.text{text-align:left}
.chart{background:#fff;border-radius:6px;padding:4px;margin:.5em 0}
.chart svg,.tl svg{max-width:100%;height:auto;display:block}
.tl{display:flex;flex-wrap:wrap;gap:12px}.tl figure{margin:0;flex:1 1 420px;max-width:600px}
.tl figcaption{font-weight:600;margin:.3em 0}
.tl svg text{fill:var(--muted);font-size:11px;font-family:system-ui,sans-serif}
.tl .grid{stroke:var(--line);stroke-width:1}.tl .axis{stroke:var(--muted);stroke-width:1}
.tl polyline{fill:none;stroke-width:2}.s1{stroke:var(--s1)}.s2{stroke:var(--s2)}.s3{stroke:var(--s3)}.s4{stroke:var(--s4)}
.k1{fill:var(--s1)}.k2{fill:var(--s2)}.k3{fill:var(--s3)}.k4{fill:var(--s4)}
ul.warn{color:var(--warn)}
details summary{cursor:pointer;color:var(--muted);margin:.5em 0}
footer{margin-top:2em;color:var(--muted);font-size:.85em}
@media (max-width:640px){body{font-size:14px}main{padding:8px}dl.meta{grid-template-columns:1fr}dl.meta dt{margin-top:.4em}}
@media print{:root{--bg:#fff;--fg:#000;--muted:#444;--line:#bbb;--head:#eee}body{font-size:11pt}main{max-width:none;padding:0}
.scroll{overflow:visible;border:none}table{width:100%;font-size:8pt}th{position:static}details{display:block}details>*{display:block}
section,figure,.chart{break-inside:avoid}h2{break-after:avoid}}
"#;

/// The whole page.
pub fn render(page: &Page<'_>) -> String {
    let info = page.info;
    let mut out = String::with_capacity(64 * 1024);
    let title = format!("{}: load-client report", info.scenario);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        escape(&title)
    );
    header(&mut out, page);
    metadata(&mut out, page);
    results(&mut out, page.results);
    checks(&mut out, page.verdicts);
    sweeps(&mut out, page.sweeps);
    if let Some(svg) = page.percentiles_svg {
        out.push_str("<section id=\"percentiles\">\n<h2>Latency percentile spectrum</h2>\n");
        chart(&mut out, svg);
        out.push_str("</section>\n");
    }
    timelines(&mut out, page.timelines);
    if let Some(c) = page.comparison {
        comparison(&mut out, c);
    }
    if !page.warnings.is_empty() {
        out.push_str("<section id=\"warnings\">\n<h2>Left out</h2>\n<ul class=\"warn\">\n");
        for w in page.warnings {
            let _ = writeln!(out, "<li>{}</li>", escape(w));
        }
        out.push_str("</ul>\n</section>\n");
    }
    let _ = write!(
        out,
        "<footer>Written by load-client {}. One self-contained file: no script, no external resource.</footer>\n</main>\n</body>\n</html>\n",
        escape(crate::VERSION)
    );
    out
}

fn header(out: &mut String, page: &Page<'_>) {
    let failed = page.verdicts.iter().filter(|v| !v.passed).count();
    let (class, text) = if page.info.interrupted {
        ("fail", "INTERRUPTED".to_string())
    } else if failed > 0 {
        (
            "fail",
            format!("FAIL: {failed} of {} checks", page.verdicts.len()),
        )
    } else if page.verdicts.is_empty() {
        ("muted", "no checks".to_string())
    } else {
        ("pass", format!("PASS: {} checks", page.verdicts.len()))
    };
    let _ = write!(
        out,
        "<header>\n<h1>{}</h1>\n<p><span id=\"verdict\" class=\"banner {class}\">{}</span> <span class=\"muted\">{} cases, started {}</span></p>\n</header>\n",
        escape(&page.info.scenario),
        escape(&text),
        page.results.len(),
        escape(&page.info.started_at)
    );
}

fn metadata(out: &mut String, page: &Page<'_>) {
    let info = page.info;
    let measured: f64 = page.results.iter().map(|r| r.wall_seconds).sum();
    let mut rows: Vec<(&str, String)> = vec![
        ("scenario", info.scenario.clone()),
        (
            "scenario file",
            format!("{} (sha256 {})", info.scenario_file, info.scenario_sha256),
        ),
        ("target", info.target.clone()),
        (
            "request",
            format!(
                "{} {} ({} body bytes)",
                info.request.method, info.request.path, info.request.body_bytes
            ),
        ),
    ];
    for (name, value) in &info.request.headers {
        rows.push(("header", format!("{name}: {value}")));
    }
    if !info.overrides.is_empty() {
        rows.push(("overrides", info.overrides.join(" ")));
    }
    if let Some(m) = info.model {
        let capacity = m
            .capacity
            .map_or("unlimited".to_string(), |c| c.to_string());
        rows.push((
            "model",
            format!(
                "D = {}, C = {capacity}, queue {}",
                crate::results::human_us(m.delay_us),
                m.queue
            ),
        ));
    }
    rows.extend([
        ("started", info.started_at.clone()),
        (
            "measured time",
            format!("{measured:.3} s over {} cases", page.results.len()),
        ),
        ("interrupted", info.interrupted.to_string()),
        (
            "versions",
            format!(
                "load-client {}, git {}, summary schema {}",
                info.tool_version,
                info.git_revision.as_deref().unwrap_or("unknown"),
                summary::SCHEMA_VERSION
            ),
        ),
        ("machine", format!("{} logical CPUs", info.cores)),
    ]);
    out.push_str("<section id=\"run\">\n<h2>Run</h2>\n<dl class=\"meta\">\n");
    for (name, value) in rows {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", escape(name), escape(&value));
    }
    out.push_str("</dl>\n</section>\n");
}

/// A table from cells; the first row is the header, the first `text`
/// columns are left-aligned.
fn table(out: &mut String, id: &str, rows: &[Vec<String>], text: usize) {
    let _ = writeln!(out, "<div class=\"scroll\"><table id=\"{id}\">");
    for (i, row) in rows.iter().enumerate() {
        let tag = if i == 0 { "th" } else { "td" };
        out.push_str("<tr>");
        for (c, cell) in row.iter().enumerate() {
            let class = if c < text { " class=\"text\"" } else { "" };
            let _ = write!(out, "<{tag}{class}>{}</{tag}>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table></div>\n");
}

fn results(out: &mut String, results: &[CaseResult]) {
    out.push_str("<section id=\"results\">\n<h2>Results</h2>\n");
    table(out, "results-table", &crate::table::cells(results), 2);
    let errors: Vec<String> = results
        .iter()
        .filter_map(crate::table::error_summary)
        .collect();
    if !errors.is_empty() {
        out.push_str("<h3>Errors by kind</h3>\n<ul>\n");
        for e in errors {
            let _ = writeln!(out, "<li>{}</li>", escape(&e));
        }
        out.push_str("</ul>\n");
    }
    let columns: Vec<summary::SummaryColumn> = summary::columns().collect();
    let mut all = vec![columns
        .iter()
        .map(|c| match c.unit() {
            "" => c.name().into_owned(),
            unit => format!("{} ({unit})", c.name()),
        })
        .collect::<Vec<String>>()];
    all.extend(
        results
            .iter()
            .map(|r| columns.iter().map(|c| c.get(r)).collect()),
    );
    out.push_str("<details><summary>Every summary.csv column</summary>\n");
    table(out, "summary-columns", &all, 0);
    out.push_str("</details>\n</section>\n");
}

fn checks(out: &mut String, verdicts: &[Verdict]) {
    out.push_str("<section id=\"checks\">\n<h2>Checks</h2>\n");
    if verdicts.is_empty() {
        out.push_str("<p class=\"muted\">The scenario has no checks.</p>\n</section>\n");
        return;
    }
    let _ = writeln!(
        out,
        "<div class=\"scroll\"><table id=\"checks-table\">\n<tr><th class=\"text\">verdict</th><th class=\"text\">case</th><th class=\"text\">check</th><th>actual</th><th>threshold</th></tr>"
    );
    for v in verdicts {
        let (class, word) = if v.passed {
            ("pass", "PASS")
        } else {
            ("fail", "FAIL")
        };
        let case = if v.repetition > 1 {
            format!("{} #{}", v.case, v.repetition)
        } else {
            v.case.clone()
        };
        let _ = writeln!(
            out,
            "<tr class=\"verdict\"><td class=\"{class}\">{word}</td><td class=\"text\">{}</td><td class=\"text\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(&case),
            escape(&v.expr),
            escape(&v.actual),
            escape(&v.threshold)
        );
    }
    out.push_str("</table></div>\n</section>\n");
}

fn sweeps(out: &mut String, sweeps: &[SweepSection]) {
    if sweeps.is_empty() {
        return;
    }
    out.push_str("<section id=\"sweeps\">\n<h2>Saturation</h2>\n");
    for sweep in sweeps {
        let _ = writeln!(
            out,
            "<h3>{}</h3>\n<p class=\"knee\">{}</p>",
            escape(&sweep.name),
            escape(&sweep.text)
        );
        if let Some(svg) = &sweep.svg {
            chart(out, svg);
        }
    }
    out.push_str("</section>\n");
}

/// A chart drawn by `crate::plot`, inlined: its root's namespace
/// declaration is dropped (HTML puts `<svg>` in the SVG namespace by
/// itself), so the page names no URL at all.
fn chart(out: &mut String, svg: &str) {
    out.push_str("<div class=\"chart\">");
    out.push_str(&svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1));
    out.push_str("</div>\n");
}

fn timelines(out: &mut String, timelines: &[CaseTimeline]) {
    if timelines.is_empty() {
        return;
    }
    out.push_str("<section id=\"timelines\">\n<h2>Per second</h2>\n<p class=\"muted\">Successful and failed requests finished in each second, and the p50 and p99 latency of that second's successes (2 significant digits); a case longer than 360 s is drawn from groups of seconds, averaging the counts and keeping each group's highest latency.</p>\n");
    for t in timelines {
        let points = condense(&t.rows, MAX_POINTS);
        let series = |name, class, value: fn(&Point) -> Option<f64>| Series {
            name,
            class,
            points: points.iter().map(|p| (p.t, value(p))).collect(),
        };
        let counts = [
            series("ok/s", 1, |p| Some(p.ok)),
            series("errors/s", 4, |p| Some(p.errors)),
        ];
        let latency = [
            series("p50 ms", 3, |p| p.p50_ms),
            series("p99 ms", 2, |p| p.p99_ms),
        ];
        let span = t.rows.len().max(1) as f64;
        let _ = writeln!(
            out,
            "<h3>{}</h3>\n<div class=\"tl\"><figure><figcaption>Requests per second</figcaption>{}</figure><figure><figcaption>Latency per second</figcaption>{}</figure></div>",
            escape(&t.label),
            line_chart(&counts, span),
            line_chart(&latency, span)
        );
    }
    out.push_str("</section>\n");
}

/// At most this many points per line: a chart is ~420 pixels wide, so an
/// hour-long case is drawn from groups of seconds, not 3600 points.
const MAX_POINTS: usize = 360;

/// One point of a case's per-second charts.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    /// Middle of the seconds it stands for.
    t: f64,
    /// Successful requests per second.
    ok: f64,
    /// Failed requests per second.
    errors: f64,
    /// The highest p50 of its seconds, ms.
    p50_ms: Option<f64>,
    /// The highest p99 of its seconds, ms.
    p99_ms: Option<f64>,
}

/// The timeline's seconds as at most `max` points: consecutive seconds are
/// grouped (counts averaged per second, latencies the highest of the
/// group, so a spike is never drawn away).
fn condense(rows: &[TimelineRow], max: usize) -> Vec<Point> {
    let per = rows.len().div_ceil(max.max(1)).max(1);
    rows.chunks(per)
        .enumerate()
        .map(|(i, group)| {
            let n = group.len() as f64;
            let highest = |f: fn(&TimelineRow) -> Option<u64>| {
                group.iter().filter_map(f).max().map(|us| us as f64 / 1e3)
            };
            Point {
                t: (i * per) as f64 + n / 2.0,
                ok: group.iter().map(|r| r.ok as f64).sum::<f64>() / n,
                errors: group.iter().map(|r| r.errors as f64).sum::<f64>() / n,
                p50_ms: highest(|r| r.p50_us),
                p99_ms: highest(|r| r.p99_us),
            }
        })
        .collect()
}

/// One line of a small chart: a legend name, a colour class (1-4) and
/// points (time in seconds, value; `None` is a gap).
struct Series {
    name: &'static str,
    class: u8,
    points: Vec<(f64, Option<f64>)>,
}

/// A small line chart as inline SVG, styled by the page's CSS (so it
/// follows the colour scheme): a zero-based y axis with three grid lines,
/// time on x, the legend on top.
fn line_chart(series: &[Series], t_max: f64) -> String {
    const W: f64 = 480.0;
    const H: f64 = 170.0;
    const LEFT: f64 = 52.0;
    const RIGHT: f64 = 470.0;
    const TOP: f64 = 26.0;
    const BOTTOM: f64 = 142.0;
    let y_max = nice_max(
        series
            .iter()
            .flat_map(|s| s.points.iter().filter_map(|p| p.1))
            .fold(0.0, f64::max),
    );
    let x = |t: f64| LEFT + (t / t_max).clamp(0.0, 1.0) * (RIGHT - LEFT);
    let y = |v: f64| BOTTOM - (v / y_max).clamp(0.0, 1.0) * (BOTTOM - TOP);
    let mut svg =
        format!("<svg viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\">");
    for i in 0..=3 {
        let v = y_max * f64::from(i) / 3.0;
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{RIGHT}\" y1=\"{0:.1}\" y2=\"{0:.1}\"/><text x=\"{1}\" y=\"{2:.1}\" text-anchor=\"end\">{3}</text>",
            y(v),
            LEFT - 4.0,
            y(v) + 4.0,
            crate::plot::short_number(v)
        );
    }
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{RIGHT}\" y1=\"{BOTTOM}\" y2=\"{BOTTOM}\"/>"
    );
    for t in [0.0, t_max / 2.0, t_max] {
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}s</text>",
            x(t),
            BOTTOM + 16.0,
            crate::plot::short_number(t)
        );
    }
    let mut legend_x = LEFT;
    for s in series {
        let _ = write!(
            svg,
            "<rect class=\"k{0}\" x=\"{legend_x}\" y=\"8\" width=\"10\" height=\"10\"/><text x=\"{1}\" y=\"17\">{2}</text>",
            s.class,
            legend_x + 14.0,
            escape(s.name)
        );
        legend_x += 110.0;
        // Runs of points with values; a gap breaks the line.
        for run in s.points.split(|p| p.1.is_none()) {
            if run.is_empty() {
                continue;
            }
            let pts: Vec<String> = run
                .iter()
                .filter_map(|&(t, v)| Some(format!("{:.1},{:.1}", x(t), y(v?))))
                .collect();
            let points = if pts.len() == 1 {
                format!("{0} {0}", pts[0])
            } else {
                pts.join(" ")
            };
            let _ = write!(
                svg,
                "<polyline class=\"s{}\" points=\"{points}\"/>",
                s.class
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A round axis maximum at or above `v` (1, 2 or 5 times a power of ten).
fn nice_max(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|m| *m >= v)
        .unwrap_or(10.0 * power)
}

fn comparison(out: &mut String, c: &Comparison) {
    let _ = writeln!(
        out,
        "<section id=\"compare\">\n<h2>Against the base run</h2>\n<p>{}</p>\n<p class=\"muted\">base {} · new {}</p>",
        escape(&compare::headline(c)),
        escape(&c.base.display().to_string()),
        escape(&c.new.display().to_string())
    );
    let mut rows = vec![["case", "metric", "base", "new", "change", "verdict"]
        .map(String::from)
        .to_vec()];
    for case in &c.cases {
        let name = format!("{}/{}", case.scenario, case.case);
        match case.presence {
            Presence::OnlyBase => rows.push(vec![
                name,
                "-".into(),
                "only in base".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]),
            Presence::OnlyNew => rows.push(vec![
                name,
                "-".into(),
                "-".into(),
                "only in new".into(),
                "-".into(),
                "-".into(),
            ]),
            Presence::Both => {
                for m in &case.metrics {
                    let side = |s: Option<compare::Stat>| {
                        s.map_or("-".to_string(), |s| metric_text(m.metric, s.median))
                    };
                    let change = m.change.map_or("-".to_string(), |v| {
                        let unit = if m.metric == Metric::ErrorRate {
                            "pp"
                        } else {
                            "%"
                        };
                        format!("{v:+.1}{unit}")
                    });
                    rows.push(vec![
                        name.clone(),
                        m.metric.to_string(),
                        side(m.base),
                        side(m.new),
                        change,
                        m.verdict.as_str().to_string(),
                    ]);
                }
            }
        }
    }
    // The verdict column is coloured: a regression in red, improvements green.
    let mut html = String::new();
    table(&mut html, "compare-table", &rows, 2);
    for (word, class) in [
        (CompareVerdict::Regressed, "fail"),
        (CompareVerdict::Improved, "pass"),
    ] {
        let plain = format!("<td>{}</td></tr>", word.as_str());
        let coloured = format!("<td class=\"{class}\">{}</td></tr>", word.as_str());
        html = html.replace(&plain, &coloured);
    }
    out.push_str(&html);
    out.push_str("</section>\n");
}

fn metric_text(metric: Metric, value: f64) -> String {
    metric.human(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_escaped_everywhere() {
        let nasty = "<script>alert('x')</script>&\"";
        let info = RunInfo {
            scenario: nasty.into(),
            target: format!("http://h/?q={nasty}"),
            request: crate::results::run_json::RequestInfo {
                method: "GET".into(),
                path: nasty.into(),
                headers: vec![(nasty.into(), nasty.into())],
                body_bytes: 0,
            },
            ..RunInfo::default()
        };
        let results = [CaseResult {
            case: nasty.into(),
            scenario: nasty.into(),
            ..CaseResult::default()
        }];
        let verdicts = [Verdict {
            case: nasty.into(),
            repetition: 1,
            expr: nasty.into(),
            passed: false,
            actual: nasty.into(),
            threshold: nasty.into(),
        }];
        let warnings = [nasty.to_string()];
        let html = render(&Page {
            info: &info,
            results: &results,
            verdicts: &verdicts,
            sweeps: &[SweepSection {
                name: nasty.into(),
                text: nasty.into(),
                svg: None,
            }],
            percentiles_svg: None,
            timelines: &[CaseTimeline {
                label: nasty.into(),
                rows: Vec::new(),
            }],
            comparison: None,
            warnings: &warnings,
        });
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("alert('x')"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
        assert!(html.contains("FAIL: 1 of 1 checks"));
    }

    #[test]
    fn long_timelines_are_drawn_from_groups_of_seconds() {
        let row = |i: u64| TimelineRow {
            ok: i,
            errors: 1,
            p50_us: Some(1_000),
            p99_us: (i != 5).then_some(i * 1_000),
            max_us: None,
        };
        let rows: Vec<TimelineRow> = (0..3600).map(row).collect();
        let points = condense(&rows, 360);
        assert_eq!(points.len(), 360);
        assert_eq!(points[0].t, 5.0);
        assert_eq!(points[0].ok, 4.5);
        assert_eq!(points[0].errors, 1.0);
        assert_eq!(points[0].p99_ms, Some(9.0), "the highest of the group");
        let short = condense(&rows[..60], 360);
        assert_eq!(short.len(), 60);
        assert_eq!((short[5].t, short[5].p99_ms), (5.5, None));
    }

    #[test]
    fn charts_scale_to_round_maxima_and_break_at_gaps() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(4.2), 5.0);
        assert_eq!(nice_max(180.0), 200.0);
        assert_eq!(nice_max(1000.0), 1000.0);
        let svg = line_chart(
            &[Series {
                name: "p99 ms",
                class: 2,
                points: vec![
                    (0.5, Some(1.0)),
                    (1.5, None),
                    (2.5, Some(2.0)),
                    (3.5, Some(3.0)),
                ],
            }],
            4.0,
        );
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert!(svg.starts_with("<svg viewBox"), "{svg}");
        assert!(!svg.contains("http"), "{svg}");
    }
}
