//! `checks.xml`: the verdicts of the scenario's checks in JUnit XML, so CI
//! systems show them natively; and the small JUnit writer that
//! `compare --format junit` shares.
//!
//! The layout is the common subset CI systems read (Jenkins, GitLab,
//! GitHub test reporters): `<testsuites>` holding one `<testsuite>` per
//! case (and repetition), one `<testcase>` per check, and a `<failure>`
//! with the measured value and the threshold when the check failed. All
//! text is escaped for XML, and characters XML 1.0 cannot hold become
//! U+FFFD.

use std::fmt::Write as _;

use super::files::case_stem;
use super::verdicts::Verdict;

/// One test case: a check of one case, or a metric judged by `compare`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// The test's name (the check as written, or the metric).
    pub name: String,
    /// Its class: `<scenario>.<case>`.
    pub classname: String,
    /// Why it failed: a one-line message and a longer text; `None` passed.
    pub failure: Option<(String, String)>,
}

/// A group of test cases: one case of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    /// The suite's name.
    pub name: String,
    /// Its test cases, in order.
    pub cases: Vec<TestCase>,
}

/// Escapes text for an XML attribute or element: `&`, `<`, `>`, `"` and
/// `'` become entities; control characters other than tab, newline and
/// carriage return (which XML 1.0 cannot carry at all) become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The suites as a JUnit XML document named `name`.
pub fn to_xml(name: &str, suites: &[Suite]) -> String {
    let count = |s: &Suite| {
        (
            s.cases.len(),
            s.cases.iter().filter(|c| c.failure.is_some()).count(),
        )
    };
    let (tests, failures) = suites
        .iter()
        .map(count)
        .fold((0, 0), |(t, f), (a, b)| (t + a, f + b));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">",
        escape(name)
    );
    for suite in suites {
        let (tests, failures) = count(suite);
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">",
            escape(&suite.name)
        );
        for case in &suite.cases {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"0\"",
                escape(&case.name),
                escape(&case.classname)
            );
            match &case.failure {
                None => out.push_str("/>\n"),
                Some((message, text)) => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\" type=\"failure\">{}</failure>\n    </testcase>",
                        escape(message),
                        escape(text)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// `checks.xml`: one suite per case and repetition (in the verdicts'
/// order), one test case per check; a failed check's failure names the
/// measured value and the threshold.
pub fn checks_xml(scenario: &str, verdicts: &[Verdict]) -> Vec<u8> {
    let mut suites: Vec<Suite> = Vec::new();
    for v in verdicts {
        let stem = case_stem(&v.case, v.repetition);
        let case = TestCase {
            name: v.expr.clone(),
            classname: format!("{scenario}.{stem}"),
            failure: (!v.passed).then(|| {
                (
                    format!("{}: actual {}, threshold {}", v.expr, v.actual, v.threshold),
                    format!(
                        "check: {}\nactual: {}\nthreshold: {}\n",
                        v.expr, v.actual, v.threshold
                    ),
                )
            }),
        };
        match suites.iter_mut().find(|s| s.name == stem) {
            Some(suite) => suite.cases.push(case),
            None => suites.push(Suite {
                name: stem,
                cases: vec![case],
            }),
        }
    }
    to_xml(&format!("load-client checks: {scenario}"), &suites).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(case: &str, repetition: u32, expr: &str, passed: bool) -> Verdict {
        Verdict {
            case: case.into(),
            repetition,
            expr: expr.into(),
            passed,
            actual: "300ms".into(),
            threshold: "1.2 × model = 240ms".into(),
        }
    }

    #[test]
    fn checks_become_test_cases_grouped_by_case() {
        let xml = String::from_utf8(checks_xml(
            "seed",
            &[
                verdict("a", 1, "p99 < 250ms", true),
                verdict("a", 1, "p50 <= 1.2 * model", false),
                verdict("a", 2, "p99 < 250ms", true),
            ],
        ))
        .unwrap();
        let doc = resvg::usvg::roxmltree::Document::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(
            (root.attribute("tests"), root.attribute("failures")),
            (Some("3"), Some("1"))
        );
        let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
        assert_eq!(suites.len(), 2);
        assert_eq!(suites[1].attribute("name"), Some("a-r2"));
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .expect("a failure");
        assert_eq!(
            failure.attribute("message"),
            Some("p50 <= 1.2 * model: actual 300ms, threshold 1.2 × model = 240ms")
        );
        let case = failure.parent().unwrap();
        assert_eq!(case.attribute("classname"), Some("seed.a"));
        assert!(xml.contains("p50 &lt;= 1.2 * model"), "{xml}");
    }

    #[test]
    fn escaping_keeps_any_text_well_formed() {
        let nasty = "<a href=\"x\">&amp;'\u{1}\u{0}]]>\u{FFFF}";
        assert_eq!(
            escape(nasty),
            "&lt;a href=&quot;x&quot;&gt;&amp;amp;&apos;\u{FFFD}\u{FFFD}]]&gt;\u{FFFD}"
        );
        let suites = [Suite {
            name: nasty.into(),
            cases: vec![TestCase {
                name: nasty.into(),
                classname: nasty.into(),
                failure: Some((nasty.into(), nasty.into())),
            }],
        }];
        let xml = to_xml(nasty, &suites);
        let doc = resvg::usvg::roxmltree::Document::parse(&xml).expect("well-formed XML");
        let failure = doc
            .descendants()
            .find(|n| n.has_tag_name("failure"))
            .unwrap();
        assert_eq!(
            failure.text(),
            Some("<a href=\"x\">&amp;'\u{FFFD}\u{FFFD}]]>\u{FFFD}")
        );
    }
}
