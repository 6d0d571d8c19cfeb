//! Property tests: no input makes the scenario loader, the duration parser
//! or the override parser panic, and every refusal names a place.

use std::path::Path;

use proptest::prelude::*;

const VALID: &str = "server:\n  delay: 20ms\n  capacity: 5\ncases:\n  - name: a\n    executor: tasks\n    tasks: [1, 2]\n    requests_per_task: 3\n  - name: b\n    executor: rate\n    rate: 100/s\n    duration: 1s\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn any_text_is_loaded_or_refused_with_a_place(text in "\\PC{0,300}") {
        if let Err(e) = load_client::scenario::parse(Path::new("p.yaml"), &text, &[], &[]) {
            prop_assert!(e.to_string().starts_with("p.yaml"));
        }
    }

    #[test]
    fn mutated_scenarios_never_panic(pos in 0usize..VALID.len(), insert in "[ -~\\n]{0,12}", cut in 0usize..8) {
        let mut text = VALID.to_string();
        let pos = (0..=pos).rev().find(|p| text.is_char_boundary(*p)).unwrap_or(0);
        let end = (pos + cut).min(text.len());
        text.replace_range(pos..end, &insert);
        if let Err(e) = load_client::scenario::parse(Path::new("p.yaml"), &text, &[], &[]) {
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn overrides_never_panic(path in "[a-z0-9._]{0,20}", value in "\\PC{0,20}") {
        let _ = load_client::scenario::parse(Path::new("p.yaml"), VALID, &[format!("{path}={value}")], &[]);
    }

    #[test]
    fn durations_parse_or_say_why(text in "\\PC{0,16}") {
        if let Err(e) = mock_server::duration::parse(&text) {
            prop_assert!(e.to_string().contains("expected"));
        }
    }
}
