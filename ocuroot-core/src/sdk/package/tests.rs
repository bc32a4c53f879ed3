//! Tests of package evaluation and calls, by topic; this file holds the fixtures they share
//! (a package folder in a temporary directory, calls with a collecting sink).

use serde_json::json;

use super::*;
use crate::model::{DeploySpec, InputDesc, TaskSpec};
use crate::sdk::output::CollectingSink;

fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().expect("has parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

fn env(name: &str, kind: &str) -> Environment {
    Environment {
        name: name.to_owned(),
        attributes: [("type".to_owned(), kind.to_owned())].into_iter().collect(),
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    sink: Arc<CollectingSink>,
    secrets: Secrets,
}

impl Fixture {
    fn new(files: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, content) in files {
            write(dir.path(), path, content);
        }
        Fixture {
            dir,
            sink: Arc::new(CollectingSink::default()),
            secrets: Secrets::default(),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn opts(&self, file: &str) -> PackageEvalOptions {
        PackageEvalOptions {
            root: self.root().to_path_buf(),
            file: file.to_owned(),
            base_ref: Ref::parse(&format!("minimal/repo/-/{file}/@r1")).expect("ref"),
            environments: vec![
                env("production", "prod"),
                env("production2", "prod"),
                env("staging", "staging"),
            ],
            host: HostContext {
                env: BTreeMap::new(),
                cwd: self.root().to_path_buf(),
            },
            sink: self.sink.clone(),
            secrets: self.secrets.clone(),
        }
    }

    fn eval(&self, file: &str) -> Result<PackageEval, EvalError> {
        evaluate_package(&self.opts(file))
    }

    fn package(&self, file: &str) -> LoadedPackage {
        match self.eval(file) {
            Ok(PackageEval::Package(p)) => p,
            other => panic!("expected a package, got {other:?}"),
        }
    }

    fn eval_error(&self, file: &str) -> String {
        match self.eval(file) {
            Err(e) => e.to_string(),
            Ok(other) => panic!("expected an error, got {other:?}"),
        }
    }

    fn call_ctx(&self, sink: Arc<CollectingSink>) -> CallContext {
        CallContext {
            host: HostContext {
                env: BTreeMap::new(),
                cwd: self.root().to_path_buf(),
            },
            package_dir: self.root().to_path_buf(),
            sink,
            secrets: self.secrets.clone(),
        }
    }
}

fn call(
    pkg: &LoadedPackage,
    fx: &Fixture,
    name: &str,
    pos: &str,
    inputs: serde_json::Value,
) -> (CallOutcome, Vec<String>) {
    let sink = Arc::new(CollectingSink::default());
    let inputs: BTreeMap<String, serde_json::Value> =
        serde_json::from_value(inputs).expect("input map");
    let f = FnDef {
        name: name.to_owned(),
        pos: pos.to_owned(),
    };
    assert!(pkg.function(&f), "unknown function {}", f.key());
    let outcome = pkg.call(&f, &inputs, &fx.call_ctx(sink.clone()));
    (outcome, sink.lines())
}

fn failed(outcome: CallOutcome) -> String {
    match outcome {
        CallOutcome::Failed { message } => message,
        other => panic!("expected a failure, got {other:?}"),
    }
}

const TASKS: &str = r##"def build():
    print("building on", os())
    return done(outputs = {"output1": 5.5, "output2": "value2"})

def up(environment, input1, previous_count = 0, staging_name = ""):
    print("deploying to " + environment["name"])
    count = previous_count + 1
    return next(up_stage2, inputs = {"count": count, "environment": environment, "input1": input1})

def up_stage2(count, environment, input1):
    return done(outputs = {"env_name": environment["name"], "count": count}, tags = ["v" + str(count)])

def down(environment, staging_name = "", previous_count = 0, input1 = None):
    return done()
"##;

const BASIC: &str = r##"load("./tasks.ocu.star", "build", "up", "down")

task(build, name = "build")

phase(
    "staging",
    [
        deploy(
            environment = e,
            up = up,
            down = down,
            inputs = {
                "input1": ref("./call/build#output/output1"),
                "previous_count": input(ref = "./@/deploy/" + e.name + "#output/count", default = 0),
            },
        )
        for e in environments()
        if e.attributes["type"] == "staging"
    ],
)

phase(
    "prod",
    tasks = [
        deploy(
            environment = e,
            up = up,
            down = down,
            inputs = {
                "input1": ref("./task/build#output/output1"),
                "staging_name": ref("./@/deploy/staging#output/env_name"),
            },
        )
        for e in environments()
        if e.attributes["type"] == "prod"
    ],
)
"##;

fn fn_def(name: &str, pos: &str) -> FnDef {
    FnDef {
        name: name.to_owned(),
        pos: pos.to_owned(),
    }
}

mod calls;
mod errors;
mod expressions;
mod sources;
mod structure;
