//! Snapshot tests of scenario errors: each names the file, line, column,
//! field and what is allowed.

use std::path::Path;

fn error_of(yaml: &str) -> String {
    load_client::scenario::parse(Path::new("bad.yaml"), yaml, &[], &[])
        .expect_err("the scenario should be refused")
        .to_string()
}

const TARGET: &str = "server:\n  delay: 20ms\n";

#[test]
fn unknown_top_level_field() {
    insta::assert_snapshot!(error_of("server: {}\ncasez: []\n"));
}

#[test]
fn unknown_case_field() {
    insta::assert_snapshot!(error_of(&format!(
        "{TARGET}cases:\n  - name: a\n    executor: tasks\n    taks: 5\n"
    )));
}

#[test]
fn unknown_executor() {
    insta::assert_snapshot!(error_of(&format!(
        "{TARGET}cases:\n  - name: a\n    executor: threads\n"
    )));
}

#[test]
fn zero_tasks() {
    insta::assert_snapshot!(error_of(&format!(
        "{TARGET}cases:\n  - name: a\n    executor: tasks\n    tasks: [5, 0]\n    requests_per_task: 1\n"
    )));
}

#[test]
fn field_of_another_executor() {
    insta::assert_snapshot!(error_of(&format!(
        "{TARGET}cases:\n  - name: a\n    executor: sequential\n    requests: 5\n    rate: 100/s\n"
    )));
}

#[test]
fn bad_duration() {
    insta::assert_snapshot!(error_of(&format!(
        "{TARGET}cases:\n  - name: a\n    executor: single_task\n    duration: 5 parsecs\n"
    )));
}

#[test]
fn bad_rate() {
    insta::assert_snapshot!(error_of(&format!(
        "{TARGET}cases:\n  - name: a\n    executor: rate\n    rate: lots\n    duration: 1s\n"
    )));
}

#[test]
fn missing_target() {
    insta::assert_snapshot!(error_of(
        "cases:\n  - name: a\n    executor: single_task\n    requests: 1\n"
    ));
}

#[test]
fn both_targets() {
    insta::assert_snapshot!(error_of(&format!(
        "{TARGET}url: http://127.0.0.1:1/\ncases:\n  - name: a\n    executor: single_task\n    requests: 1\n"
    )));
}

#[test]
fn bad_server_block() {
    insta::assert_snapshot!(error_of(
        "server:\n  capacity: 0\ncases:\n  - name: a\n    executor: single_task\n    requests: 1\n"
    ));
}

#[test]
fn unsafe_case_name() {
    insta::assert_snapshot!(error_of(&format!(
        "{TARGET}cases:\n  - name: ../../etc\n    executor: single_task\n    requests: 1\n"
    )));
}

#[test]
fn duplicate_case_names() {
    insta::assert_snapshot!(error_of(&format!(
        "{TARGET}cases:\n  - name: a\n    executor: single_task\n    requests: 1\n  - name: a\n    executor: single_task\n    requests: 2\n"
    )));
}

#[test]
fn missing_amount() {
    insta::assert_snapshot!(error_of(&format!(
        "{TARGET}cases:\n  - name: a\n    executor: tasks\n    tasks: 5\n"
    )));
}

#[test]
fn wrong_type_in_server_block() {
    insta::assert_snapshot!(error_of("server:\n  delay: [20ms]\ncases: []\n"));
}

#[test]
fn yaml_syntax_error() {
    insta::assert_snapshot!(error_of("server:\n  delay: 20ms\ncases: [\n  - {name: a\n"));
}

const ONE_CASE: &str = "cases:\n  - {name: a, executor: single_task, requests: 1}\n";

#[test]
fn tls_block_on_a_plain_url() {
    insta::assert_snapshot!(error_of(&format!(
        "url: http://127.0.0.1:1/\ntls:\n  insecure: true\n{ONE_CASE}"
    )));
}

#[test]
fn tls_block_on_a_plain_embedded_server() {
    insta::assert_snapshot!(error_of(&format!(
        "{TARGET}tls:\n  insecure: true\n{ONE_CASE}"
    )));
}

#[test]
fn tls_unknown_field() {
    insta::assert_snapshot!(error_of(&format!(
        "url: https://127.0.0.1:1/\ntls:\n  insecur: true\n{ONE_CASE}"
    )));
}

#[test]
fn tls_client_cert_without_key() {
    insta::assert_snapshot!(error_of(&format!(
        "url: https://127.0.0.1:1/\ntls:\n  client_cert: client.pem\n{ONE_CASE}"
    )));
}

#[test]
fn tls_missing_ca_file() {
    insta::assert_snapshot!(error_of(&format!(
        "url: https://127.0.0.1:1/\ntls:\n  ca: no-such-ca.pem\n{ONE_CASE}"
    )));
}

#[test]
fn tls_bad_server_name() {
    insta::assert_snapshot!(error_of(&format!(
        "url: https://127.0.0.1:1/\ntls:\n  server_name: \"bad name!\"\n{ONE_CASE}"
    )));
}

#[test]
fn tls_insecure_with_ca() {
    insta::assert_snapshot!(error_of(&format!(
        "url: https://127.0.0.1:1/\ntls:\n  insecure: true\n  ca: ca.pem\n{ONE_CASE}"
    )));
}

#[test]
fn server_tls_cert_without_key() {
    insta::assert_snapshot!(error_of(&format!(
        "server:\n  tls_cert: cert.pem\n{ONE_CASE}"
    )));
}

#[test]
fn server_tls_unknown_mode() {
    insta::assert_snapshot!(error_of(&format!(
        "server:\n  tls: self-signed\n{ONE_CASE}"
    )));
}

#[test]
fn unknown_protocol() {
    insta::assert_snapshot!(error_of(&format!(
        "{TARGET}protocol: http3\ncases:\n  - {{name: a, executor: single_task, requests: 1}}\n"
    )));
}

#[test]
fn streams_without_http2() {
    insta::assert_snapshot!(error_of(&format!(
        "{TARGET}streams_per_connection: 10\ncases:\n  - {{name: a, executor: tasks, tasks: 100, requests_per_task: 1}}\n"
    )));
}

#[test]
fn zero_streams_in_a_case() {
    insta::assert_snapshot!(error_of(&format!(
        "{TARGET}protocol: http2\ncases:\n  - name: a\n    executor: tasks\n    tasks: 10\n    requests_per_task: 1\n    streams_per_connection: 0\n"
    )));
}

#[test]
fn streams_with_a_connection_per_request() {
    insta::assert_snapshot!(error_of(&format!(
        "{TARGET}protocol: http2\nstreams_per_connection: 4\ndefaults:\n  connection: per_request\ncases:\n  - {{name: a, executor: tasks, tasks: 8, requests_per_task: 1}}\n"
    )));
}
