//! The deployment recipes under `deploy/`, checked without a cluster: the
//! manifests parse, the shards run as an Indexed Job whose `--shards`
//! equals its parallelism and completions, every pod gets the same
//! arguments and they parse with the real command line (each pod's index
//! giving its shard), the merge Job lists exactly the shards' folders, the
//! scenarios parse; the same for the GitHub Actions example.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser as _;
use load_client::cli::{shard_of, Cli, Command};
use serde_yaml::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Every YAML document of a file.
fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

fn one(path: &Path) -> Value {
    let mut docs = documents(path);
    assert_eq!(docs.len(), 1, "{}", path.display());
    docs.remove(0)
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .fold(v, |v, key| match key.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[key],
        })
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("not a list: {v:?}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// Kubernetes' `$(VAR)` expansion of container arguments; a reference
/// to a variable the container does not declare is a test failure.
fn expand(arg: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find(')').unwrap() + start;
        let name = &rest[start + 2..end];
        out.push_str(
            vars.get(name)
                .unwrap_or_else(|| panic!("$({name}) is not declared")),
        );
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn parse(args: &[String]) -> Command {
    let argv = std::iter::once("load-client".to_string()).chain(args.iter().cloned());
    Cli::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("{args:?} do not parse: {e}"))
        .command
}

/// The container's declared environment, with ConfigMap values resolved.
fn environment(container: &Value, config: &Value) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for var in at(container, "env").as_sequence().unwrap() {
        let name = var["name"].as_str().unwrap().to_string();
        let from = &var["valueFrom"];
        let value = if let Some(key) = from["configMapKeyRef"]["key"].as_str() {
            config["data"][key].as_str().unwrap().to_string()
        } else {
            assert_eq!(
                from["fieldRef"]["fieldPath"].as_str(),
                Some("metadata.annotations['batch.kubernetes.io/job-completion-index']"),
                "{name}"
            );
            "INDEX".to_string()
        };
        vars.insert(name, value);
    }
    vars
}

#[test]
fn the_kubernetes_job_runs_n_indexed_shards_with_the_same_arguments() {
    let dir = deploy().join("kubernetes");
    let job = one(&dir.join("shards-job.yaml"));
    let configs = documents(&dir.join("scenario-configmap.yaml"));
    let run = configs
        .iter()
        .find(|d| d["metadata"]["name"] == "load-run")
        .unwrap();
    let scenario = configs
        .iter()
        .find(|d| d["metadata"]["name"] == "load-scenario")
        .unwrap();
    assert_eq!(job["kind"], "Job");
    assert_eq!(at(&job, "spec.completionMode"), "Indexed");
    let n = at(&job, "spec.parallelism").as_u64().unwrap();
    assert_eq!(at(&job, "spec.completions").as_u64(), Some(n));
    assert!(n > 1);
    let containers = at(&job, "spec.template.spec.containers");
    assert_eq!(containers.as_sequence().unwrap().len(), 1);
    let container = &containers[0];
    let args = strings(&container["args"]);
    let vars = environment(container, run);
    assert!(vars.contains_key("JOB_COMPLETION_INDEX"));
    // One template: every pod gets these arguments; each expands its own
    // index. They parse with the real command line and give shard i of n.
    let mut outs = Vec::new();
    for i in 0..n {
        let mut vars = vars.clone();
        vars.insert("JOB_COMPLETION_INDEX".into(), i.to_string());
        let expanded: Vec<String> = args.iter().map(|a| expand(a, &vars)).collect();
        let Command::Run {
            scenario: path,
            shard,
            shards,
            start_at,
            out,
            allow_remote,
            ..
        } = parse(&expanded)
        else {
            panic!("not a run: {expanded:?}");
        };
        assert_eq!(
            shards,
            Some(n),
            "--shards must equal parallelism and completions"
        );
        let shard = shard_of(shard, shards, Some(&i.to_string())).unwrap();
        assert_eq!((shard.index(), u64::from(shard.count())), (i as u32, n));
        let start = start_at.expect("--start-at");
        load_client::start_at::parse(&start, std::time::SystemTime::now()).unwrap();
        assert!(allow_remote);
        let mounts = container["volumeMounts"].as_sequence().unwrap();
        let scenario_mount = mounts.iter().find(|m| m["name"] == "scenario").unwrap();
        let path = path.expect("a scenario file");
        assert!(path.starts_with(scenario_mount["mountPath"].as_str().unwrap()));
        outs.push(out.expect("--out").display().to_string());
    }
    let distinct: std::collections::BTreeSet<&String> = outs.iter().collect();
    assert_eq!(
        distinct.len(),
        outs.len(),
        "shards write one folder each: {outs:?}"
    );
    // The scenario in the ConfigMap is a valid scenario with an external
    // target (sharding refuses an embedded server).
    let text = scenario["data"]["scenario.yaml"].as_str().unwrap();
    let parsed = load_client::scenario::parse(Path::new("scenario.yaml"), text, &[], &[]).unwrap();
    assert!(matches!(
        parsed.target,
        load_client::scenario::Target::Url(_)
    ));

    // The merge Job reads exactly the shards' folders from the same volume.
    let merge = one(&dir.join("merge-job.yaml"));
    let container = &at(&merge, "spec.template.spec.containers")[0];
    let vars = environment(container, run);
    let args: Vec<String> = strings(&container["args"])
        .iter()
        .map(|a| expand(a, &vars))
        .collect();
    let Command::Merge { dirs, out } = parse(&args) else {
        panic!("not a merge: {args:?}");
    };
    let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    assert_eq!(dirs, outs);
    assert!(!outs.contains(&out.display().to_string()));
    let claim = |job: &Value| {
        at(job, "spec.template.spec.volumes")
            .as_sequence()
            .unwrap()
            .iter()
            .find_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
            .map(str::to_string)
    };
    assert_eq!(claim(&job), claim(&merge));
    let pvc = one(&dir.join("results-pvc.yaml"));
    assert_eq!(pvc["metadata"]["name"].as_str(), claim(&job).as_deref());
    assert_eq!(strings(&pvc["spec"]["accessModes"]), ["ReadWriteMany"]);
}

#[test]
fn the_github_example_runs_a_matrix_of_shards_and_merges_them() {
    let dir = deploy().join("github");
    let flow = one(&dir.join("sharded-load-test.yml"));
    let indexes = at(&flow, "jobs.shard.strategy.matrix.index")
        .as_sequence()
        .unwrap()
        .len() as u64;
    let steps = at(&flow, "jobs.shard.steps").as_sequence().unwrap();
    let run = steps.iter().find(|s| s["name"] == "run shard").unwrap();
    assert_eq!(run["env"]["JOB_COMPLETION_INDEX"], "${{ matrix.index }}");
    let substitute = |text: &str| {
        text.replace("${{ inputs.target_url }}", "http://10.0.0.1:8080/")
            .replace(
                "${{ needs.build.outputs.start_at }}",
                "2030-01-01T00:00:00Z",
            )
    };
    let command = substitute(run["run"].as_str().unwrap());
    assert!(command.starts_with("bin/load-client "), "{command}");
    let mut outs = Vec::new();
    for i in 0..indexes {
        let args: Vec<String> = command
            .replace("${{ matrix.index }}", &i.to_string())
            .split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect();
        let Command::Run {
            scenario,
            shard,
            shards,
            overrides,
            out,
            ..
        } = parse(&args)
        else {
            panic!("not a run");
        };
        assert_eq!(shards, Some(indexes), "--shards must equal the matrix size");
        assert_eq!(
            shard_of(shard, shards, Some(&i.to_string()))
                .unwrap()
                .index(),
            i as u32
        );
        let scenario = scenario.expect("a scenario file");
        let text = std::fs::read_to_string(deploy().join("..").join(&scenario)).unwrap();
        load_client::scenario::parse(&scenario, &text, &overrides, &[]).unwrap();
        outs.push(out.unwrap().display().to_string());
    }
    let merge_steps = at(&flow, "jobs.merge.steps").as_sequence().unwrap();
    let merge = merge_steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.contains(" merge "))
        .unwrap();
    let words: Vec<String> = merge
        .split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect();
    let Command::Merge { dirs, .. } = parse(&words) else {
        panic!("not a merge");
    };
    let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    assert_eq!(dirs, outs);
    assert_eq!(at(&flow, "jobs.merge.needs"), "shard");
    assert_eq!(at(&flow, "jobs.shard.needs"), "build");
}
