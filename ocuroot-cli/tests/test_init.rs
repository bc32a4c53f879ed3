//! `ocuroot init repo|release|ci`: the files written work (a fresh repository releases to
//! staging and production with them), existing files are protected, and the CI
//! configurations are valid YAML running the right commands.

use serde_json::Value;

use crate::common::TestEnv;

fn read(env: &TestEnv, rel: &str) -> String {
    std::fs::read_to_string(env.repo().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

fn value(env: &TestEnv, r: &str) -> Value {
    let out = env.run(&["state", "get", r]).success();
    serde_json::from_str(&out.stdout).expect("json")
}

#[test]
fn generated_files_release_to_staging_and_production() {
    let env = TestEnv::without_config();
    env.git(&["remote", "add", "origin", "git@github.com:acme/shop.git"]);
    let out = env.run(&["init", "repo"]).success();
    insta::assert_snapshot!(out, @r"
    [EOF]
    ------- stderr -------
    Wrote repo.ocu.star
    Repository alias: github.com/acme/shop
    Next: ocuroot init release
    [EOF]
    ");
    let out = env.run(&["init", "release"]).success();
    insta::assert_snapshot!(out, @r"
    [EOF]
    ------- stderr -------
    Wrote release.ocu.star
    Wrote environments.ocu.star
    Next: ocuroot release new environments.ocu.star && ocuroot release new release.ocu.star
    [EOF]
    ");
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", "ocuroot init"]);
    let head = env
        .git(&["rev-parse", "--short", "HEAD"])
        .trim()
        .to_string();

    env.run(&["release", "new", "environments.ocu.star"])
        .success();
    let out = env.run(&["release", "new", "release.ocu.star"]).success();
    assert_eq!(
        out.stdout.trim(),
        "github.com/acme/shop/-/release.ocu.star/@r1"
    );
    for e in ["staging", "production"] {
        let deployed = value(
            &env,
            &format!("release.ocu.star/@/deploy/{e}#output/version"),
        );
        assert_eq!(deployed, Value::String(head.clone()), "{e}");
    }
    // Staging deploys in an earlier phase than production.
    let staging = out.stderr.find("deploying").expect("staging deploy logged");
    assert!(
        out.stderr[staging..].starts_with(&format!("deploying {head} to staging")),
        "{}",
        out.stderr
    );
    // The release left the checkout clean: `ocuroot push` would accept it.
    assert_eq!(env.git(&["status", "--porcelain"]), "");
}

#[test]
fn init_repo_protects_an_existing_file() {
    let env = TestEnv::new();
    let before = read(&env, "repo.ocu.star");
    let out = env.run(&["init", "repo", "--alias", "acme/app"]);
    insta::assert_snapshot!(out, @r"
    [EOF]
    ------- stderr -------
    error: repo.ocu.star already exists; nothing was written
    hint: pass --force to replace it
    [EOF]
    [exit status: 1]
    ");
    assert_eq!(read(&env, "repo.ocu.star"), before);
    // From a subdirectory, the existing repo.ocu.star at the root is the one replaced.
    env.write_file("sub/.keep", "");
    env.run_in("sub", &["init", "repo", "--alias", "acme/app", "--force"])
        .success();
    assert!(!env.repo().join("sub/repo.ocu.star").exists());
    assert!(read(&env, "repo.ocu.star").contains("repo_alias(\"acme/app\")"));
    let out = env.run(&["state", "match", "**"]).success();
    assert_eq!(out.stdout, "");
}

#[test]
fn init_repo_without_origin_uses_the_folder_name() {
    let env = TestEnv::without_config();
    env.run(&["init", "repo"]).success();
    assert!(read(&env, "repo.ocu.star").contains("repo_alias(\"repo\")"));
    let out = env.run(&["init", "repo", "--force", "--alias", "has space"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr
            .contains("invalid repository alias \"has space\""),
        "{out}"
    );
}

#[test]
fn init_release_in_a_subdirectory_keeps_existing_environments() {
    let env = TestEnv::new();
    env.write_file("environments.ocu.star", "# mine\n");
    env.write_file("services/api/.keep", "");
    let out = env
        .run_in("services/api", &["init", "release", "api"])
        .success();
    insta::assert_snapshot!(out, @r"
    [EOF]
    ------- stderr -------
    Wrote api.ocu.star
    Kept existing ../../environments.ocu.star
    Next: ocuroot release new ../../environments.ocu.star && ocuroot release new api.ocu.star
    [EOF]
    ");
    assert_eq!(read(&env, "environments.ocu.star"), "# mine\n");
    assert!(read(&env, "services/api/api.ocu.star").contains("ocuroot release new api.ocu.star"));
    let out = env.run_in("services/api", &["init", "release", "api.ocu.star"]);
    assert_eq!(out.code(), 1, "{out}");
    let out = env.run(&["init", "release", "../x"]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(out.stderr.contains("invalid release name"), "{out}");
}

/// Parses a generated CI file as YAML and returns it as JSON.
fn parse_yaml(text: &str) -> Value {
    ocuroot_core::yaml::from_str(text).unwrap_or_else(|e| panic!("invalid YAML: {e}\n{text}"))
}

/// Every `run`/`script` command of the file, in document order.
fn commands(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("run", Value::String(s)) => out.push(s.clone()),
                    ("script", Value::Array(lines)) => {
                        out.extend(lines.iter().filter_map(|l| l.as_str().map(String::from)));
                    }
                    _ => commands(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| commands(i, out)),
        _ => {}
    }
}

#[test]
fn github_actions_workflow() {
    let env = TestEnv::new();
    let out = env.run(&["init", "ci", "github-actions"]).success();
    assert!(
        out.stderr.contains("Wrote .github/workflows/ocuroot.yml"),
        "{out}"
    );
    let text = read(&env, ".github/workflows/ocuroot.yml");
    let doc = parse_yaml(&text);
    let jobs = doc["jobs"].as_object().expect("jobs");
    let job_commands = |name: &str| {
        let mut out = Vec::new();
        commands(&jobs[name], &mut out);
        out
    };
    assert!(job_commands("push").contains(&"ocuroot push".to_string()));
    assert!(job_commands("cascade").contains(&"ocuroot work cascade".to_string()));
    assert!(job_commands("work").contains(&"ocuroot work any".to_string()));
    let review = job_commands("review");
    assert!(review.contains(&"ocuroot intent check \"$INTENT_REV\"".to_string()));
    assert!(review.contains(&"ocuroot plan --intent \"$INTENT_REV\"".to_string()));
    // Reviewers read the plan in the job summary.
    assert!(
        review.contains(
            &"ocuroot plan --intent \"$INTENT_REV\" --output markdown >> \"$GITHUB_STEP_SUMMARY\""
                .to_string()
        )
    );
    // A CODEOWNERS template for the intent branch, covering the intent paths.
    let owners = read(&env, ".github/ocuroot-intent-CODEOWNERS");
    assert!(
        out.stderr
            .contains("Wrote .github/ocuroot-intent-CODEOWNERS"),
        "{out}"
    );
    for path in [
        "/refs/**/@/deploy/production/",
        "/refs/@/environment/*/freeze/",
        "/refs/**/custom/ocuroot/bad/",
    ] {
        assert!(owners.contains(path), "{owners}");
    }
    assert!(owners.contains("on `intent`"), "{owners}");
    assert_eq!(jobs["push"]["steps"][0]["with"]["fetch-depth"], 0);
    assert_eq!(
        doc["env"]["OCUROOT_GIT_USER_NAME"],
        "ocuroot (GitHub Actions)"
    );
    for job in ["push", "cascade", "work"] {
        assert!(jobs[job]["concurrency"]["group"].is_string(), "{job}");
    }
    insta::assert_snapshot!("github_actions_workflow", text);
}

#[test]
fn gitlab_pipeline() {
    let env = TestEnv::new();
    env.run(&[
        "init",
        "ci",
        "gitlab",
        "--source-branch",
        "trunk",
        "--intent-branch",
        "ocuroot/intent",
    ])
    .success();
    let text = read(&env, ".gitlab-ci.yml");
    let doc = parse_yaml(&text);
    assert_eq!(doc["variables"]["OCUROOT_SOURCE_BRANCH"], "trunk");
    assert_eq!(doc["variables"]["OCUROOT_INTENT_BRANCH"], "ocuroot/intent");
    assert_eq!(doc[".ocuroot"]["variables"]["GIT_DEPTH"], "0");
    let job_commands = |name: &str| {
        let mut out = Vec::new();
        commands(&doc[name], &mut out);
        out
    };
    assert_eq!(job_commands("ocuroot-push"), ["ocuroot push"]);
    assert!(job_commands("ocuroot-cascade").contains(&"ocuroot work cascade".to_string()));
    assert!(job_commands("ocuroot-work").contains(&"ocuroot work any".to_string()));
    let review = job_commands("ocuroot-review");
    assert!(review.contains(&"ocuroot intent check \"$INTENT_REV\"".to_string()));
    assert!(review.contains(&"ocuroot plan --intent \"$INTENT_REV\"".to_string()));
    // The Markdown plan goes to a merge-request note.
    assert!(review.contains(
        &"ocuroot plan --intent \"$INTENT_REV\" --output markdown > ocuroot-plan.md".to_string()
    ));
    assert!(
        review
            .iter()
            .any(|c| c.contains("merge_requests/$CI_MERGE_REQUEST_IID/notes")),
        "{review:?}"
    );
    insta::assert_snapshot!("gitlab_pipeline", text);
    // A CODEOWNERS template for the intent branch, in GitLab's syntax (sections), saying
    // that code-owner approval needs GitLab Premium.
    let owners = read(&env, ".gitlab/ocuroot-intent-CODEOWNERS");
    assert!(owners.contains("on `ocuroot/intent`"), "{owners}");
    assert!(owners.contains("Premium"), "{owners}");
    insta::assert_snapshot!("gitlab_codeowners", owners);
}

#[test]
fn gitlab_pipeline_is_never_overwritten_silently() {
    let env = TestEnv::new();
    env.write_file(".gitlab-ci.yml", "test:\n  script: [make test]\n");
    let out = env.run(&["init", "ci", "gitlab"]);
    insta::assert_snapshot!(out, @r"
    [EOF]
    ------- stderr -------
    error: .gitlab-ci.yml already exists; nothing was written
    hint: keep your pipeline and include ocuroot's jobs from their own file: run `ocuroot init ci gitlab --output .gitlab/ocuroot.yml`, then add to .gitlab-ci.yml:

      include:
        - local: .gitlab/ocuroot.yml
    [EOF]
    [exit status: 1]
    ");
    assert_eq!(
        read(&env, ".gitlab-ci.yml"),
        "test:\n  script: [make test]\n"
    );
    env.run(&["init", "ci", "gitlab", "--output", ".gitlab/ocuroot.yml"])
        .success();
    parse_yaml(&read(&env, ".gitlab/ocuroot.yml"));
}

#[test]
fn init_help_explains_the_subcommands() {
    let env = TestEnv::without_config();
    insta::assert_snapshot!(env.run(&["init", "--help"]));
    let out = env.run(&["init", "ci", "jenkins"]);
    assert_eq!(out.code(), 2, "{out}");
}
