//! The rules of the intent pipeline (see the [module docs](super)): what each changed
//! intent document means given state ([`Ctx`]), the order of the items (`order`), the
//! inputs a deploy intent runs with, and the releases state knows.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

/// The state read while planning.
pub(super) struct Ctx<'a> {
    pub(super) intent: &'a View<'a>,
    pub(super) state: &'a View<'a>,
    /// Next run number per task, counting the runs this plan creates.
    pub(super) next_runs: BTreeMap<Ref, u64>,
}

/// A deployment: its package (`<repo>/-/<file>`) and environment.
type Deployment = (String, String);

/// The deployment that input `input` reads, if any.
fn reads_deployment(input: &crate::model::InputDesc) -> Option<Deployment> {
    let r = Ref::parse(input.reference.as_deref()?).ok()?;
    if !r.is(SubpathType::Deploy) || r.filename.is_empty() {
        return None;
    }
    let env = r.subpath.split('/').next()?.to_string();
    Some((format!("{}/-/{}", r.repo, r.filename), env))
}

/// Puts every `up` after the `up`s of the deployments it reads, and every `down` after the
/// `down`s of the deployments that read it, within one environment (see the module doc).
pub(super) fn order(items: &mut [PlanItem]) {
    // (package, environment) → the run this plan creates there, and what it reads.
    let mut ups: BTreeMap<Deployment, (Ref, Vec<Deployment>)> = BTreeMap::new();
    let mut downs: BTreeMap<Deployment, (Ref, Vec<Deployment>)> = BTreeMap::new();
    for i in items.iter() {
        for e in &i.effects {
            match e {
                Effect::Up {
                    run,
                    environment,
                    inputs,
                    ..
                } => {
                    let reads = inputs.values().filter_map(reads_deployment).collect();
                    ups.insert((package_of(run), environment.clone()), (run.clone(), reads));
                }
                Effect::Down {
                    run,
                    environment,
                    inputs,
                    ..
                } => {
                    let reads = inputs.values().filter_map(reads_deployment).collect();
                    downs.insert((package_of(run), environment.clone()), (run.clone(), reads));
                }
                _ => {}
            }
        }
    }
    for i in items.iter_mut() {
        for e in &mut i.effects {
            match e {
                Effect::Up {
                    run,
                    environment,
                    inputs,
                    after,
                    ..
                } => {
                    let me = (package_of(run), environment.clone());
                    for read in inputs.values().filter_map(reads_deployment) {
                        if read != me
                            && read.1 == *environment
                            && let Some((other, _)) = ups.get(&read)
                        {
                            after.push(other.clone());
                        }
                    }
                    after.sort();
                    after.dedup();
                }
                Effect::Down {
                    run,
                    environment,
                    after,
                    ..
                } => {
                    let me = (package_of(run), environment.clone());
                    for (key, (reader, reads)) in &downs {
                        if *key != me && reads.contains(&me) {
                            after.push(reader.clone());
                        }
                    }
                    after.sort();
                    after.dedup();
                }
                _ => {}
            }
        }
    }
}

fn package_of(r: &Ref) -> String {
    format!("{}/-/{}", r.repo, r.filename)
}

impl Ctx<'_> {
    /// The number of the next run of `task`, counting runs this plan already created.
    fn next_run(&mut self, task: &Ref) -> PlanResult<Ref> {
        let n = match self.next_runs.get(task) {
            Some(n) => *n,
            None => {
                let glob = Glob::below(task, "*")?;
                let refs = self.state.match_refs(
                    Area::Records,
                    &[glob],
                    MatchOptions { no_links: true },
                )?;
                refs.iter()
                    .filter_map(|r| r.subpath.rsplit('/').next()?.parse::<u64>().ok())
                    .max()
                    .unwrap_or(0)
                    + 1
            }
        };
        self.next_runs.insert(task.clone(), n + 1);
        parse(&format!("{task}/{n}"))
    }

    fn release_doc(&self, release: &Ref) -> PlanResult<Option<(Ref, ReleaseDoc)>> {
        let resolved = self
            .state
            .resolve_link(&release.release_ref())?
            .release_ref();
        Ok(match self.state.try_get(&resolved)? {
            Some(v) => Some((resolved.clone(), decode(&resolved, "release", v)?)),
            None => None,
        })
    }

    /// Effects of a deploy intent `r` (`<pkg>/@/deploy/<env>`) with document `value`.
    pub(super) fn deploy(&mut self, r: &Ref, value: &Value) -> PlanResult<Vec<Effect>> {
        let env = r.subpath.clone();
        let intent: DeployIntent = decode(r, "deploy intent", value.clone())?;
        let named = parse(&intent.release)?;
        // `intent check` rules (run before) guarantee the release and its deployment exist.
        let Some((release, doc)) = self.release_doc(&named)? else {
            return Ok(Vec::new());
        };
        let Some((_, WorkSpec::Deploy(spec))) = doc.package.find("deploy", &env) else {
            return Ok(Vec::new());
        };
        let inputs = effective_inputs(&intent.input, &release, spec);
        // Satisfied: what is deployed now is that release with those inputs.
        let current = self.state.resolve_link(r)?;
        if current != *r
            && let Some(v) = self.state.try_get(&current)?
        {
            let summary: TaskSummary = decode(&current, "task summary", v)?;
            let deployed = self
                .state
                .resolve_link(&parse(&summary.release)?)?
                .release_ref();
            if summary.run_type != RunType::Down && deployed == release && summary.input == inputs {
                return Ok(vec![Effect::Deployed {
                    deployment: current,
                }]);
            }
        }
        let task = parse(&format!("{release}/deploy/{env}"))?;
        for (run, doc) in self.open_runs(&task)? {
            if doc.run_type != RunType::Down
                && doc.functions.first().is_some_and(|f| f.inputs == inputs)
            {
                // A run already scheduled, held by a freeze: the override lets it through.
                if intent.override_freeze && !doc.override_freeze {
                    return Ok(vec![Effect::OverrideFreeze { run }]);
                }
                return Ok(vec![Effect::Scheduled { run }]);
            }
        }
        let run = self.next_run(&task)?;
        Ok(vec![Effect::Up {
            run,
            release,
            environment: env,
            function: spec.up.clone(),
            inputs,
            after: Vec::new(),
            override_freeze: intent.override_freeze,
        }])
    }

    /// Runs of `task` that are pending, paused or running, with their documents.
    fn open_runs(&self, task: &Ref) -> PlanResult<Vec<(Ref, RunDoc)>> {
        let glob = Glob::below(task, "*/status/{pending,paused,running}")?;
        let mut out = Vec::new();
        for status in
            self.state
                .match_refs(Area::Records, &[glob], MatchOptions { no_links: true })?
        {
            let Some((run, _)) = status.subpath.rsplit_once("/status/") else {
                continue;
            };
            let run = Ref {
                subpath: run.to_string(),
                fragment: String::new(),
                ..status.clone()
            };
            if let Some(v) = self.state.try_get(&run)? {
                out.push((run.clone(), decode(&run, "run", v)?));
            }
        }
        Ok(out)
    }

    /// Effects of a deleted deploy intent `r` (or of its environment's removal).
    pub(super) fn undeploy(&mut self, r: &Ref) -> PlanResult<Vec<Effect>> {
        let deployment = self.state.resolve_link(r)?;
        if deployment == *r {
            return Ok(vec![Effect::NotDeployed]);
        }
        let Some(v) = self.state.try_get(&deployment)? else {
            return Ok(vec![Effect::NotDeployed]);
        };
        let summary: TaskSummary = decode(&deployment, "task summary", v)?;
        if summary.run_type == RunType::Down {
            return Ok(vec![Effect::NotDeployed]);
        }
        let deployed_by = parse(&summary.run_ref)?;
        let current: RunDoc = match self.state.try_get(&deployed_by)? {
            Some(v) => decode(&deployed_by, "run", v)?,
            None => return Ok(vec![Effect::NotDeployed]),
        };
        let release = deployment.release_ref();
        let env = deployment.subpath.clone();
        let Some((_, doc)) = self.release_doc(&release)? else {
            return Ok(vec![Effect::NotDeployed]);
        };
        let Some((_, WorkSpec::Deploy(spec))) = doc.package.find("deploy", &env) else {
            return Ok(vec![Effect::NotDeployed]);
        };
        let inputs = current
            .functions
            .first()
            .map(|f| f.inputs.clone())
            .unwrap_or_default();
        let run = self.next_run(&deployment)?;
        Ok(vec![Effect::Down {
            run,
            deployment,
            environment: env,
            function: spec.down.clone(),
            inputs,
            after: Vec::new(),
        }])
    }

    /// Effects of removing environment `r`: every deployment there taken down, their
    /// deploy intents removed, the environment removed. Records the deployments it covers.
    pub(super) fn remove_environment(
        &mut self,
        r: &Ref,
        covered: &mut BTreeMap<(String, String), Ref>,
    ) -> PlanResult<Vec<Effect>> {
        let name = r.subpath.clone();
        let glob = Glob::new(&format!("**/@/deploy/{}", escape(&name)))?;
        let mut effects = Vec::new();
        let deployed = self.state.match_refs(
            Area::Records,
            std::slice::from_ref(&glob),
            MatchOptions::default(),
        )?;
        let intents = self
            .intent
            .match_refs(Area::Records, &[glob], MatchOptions::default())?;
        let all: BTreeSet<Ref> = deployed.iter().chain(&intents).cloned().collect();
        for link in &all {
            covered.insert(
                (format!("{}/-/{}", link.repo, link.filename), name.clone()),
                r.clone(),
            );
        }
        for link in &deployed {
            effects.extend(
                self.undeploy(link)?
                    .into_iter()
                    .filter(|e| !matches!(e, Effect::NotDeployed)),
            );
        }
        for link in &intents {
            effects.push(Effect::RemoveDeployIntent { r: link.clone() });
        }
        effects.push(Effect::RemoveEnvironment { name });
        Ok(effects)
    }

    /// Effects of environment intent `r` with document `value`.
    pub(super) fn set_environment(&mut self, r: &Ref, value: &Value) -> PlanResult<Vec<Effect>> {
        let env: Environment = decode(r, "environment", value.clone())?;
        if self.state.try_get(r)?.as_ref() == Some(&crate::model::to_json(&env)) {
            return Ok(vec![Effect::EnvironmentUnchanged]);
        }
        Ok(vec![Effect::SetEnvironment {
            environment: env,
            packages: package_releases(self.state)?,
        }])
    }
}

/// The inputs a deploy intent runs with (see the module doc): its own, with refs into other
/// releases of the same package read from the named release; or, when it lists none, the
/// ones the release's package declares for the environment.
pub(super) fn effective_inputs(
    listed: &Inputs,
    release: &Ref,
    spec: &crate::model::DeploySpec,
) -> Inputs {
    if listed.is_empty() {
        return spec.inputs.clone();
    }
    listed
        .iter()
        .map(|(name, desc)| {
            let mut desc = desc.clone();
            if let Some(r) = desc.reference.as_deref().and_then(|t| Ref::parse(t).ok())
                && r.repo == release.repo
                && r.filename == release.filename
                && r.release.as_deref().is_some_and(|x| !x.is_empty())
                && r.release != release.release
            {
                let rebased = Ref {
                    release: release.release.clone(),
                    ..r
                };
                desc.reference = Some(rebased.to_string());
                // The value was read from the other release: it is read again at start.
                desc.value = None;
            }
            (name.clone(), desc)
        })
        .collect()
}

/// Chooses one release per package (spec §6.6), which re-checks its deployments when an
/// environment is added: the release currently deployed, else the first release recorded
/// with a commit marker.
pub(crate) fn package_releases(state: &View<'_>) -> PlanResult<Vec<Ref>> {
    let mut chosen: BTreeMap<String, Ref> = BTreeMap::new();
    let links = state.match_refs(
        Area::Records,
        &[Glob::new("**/@/deploy/*")?],
        MatchOptions::default(),
    )?;
    // A package's last deployment link (in ref order) names its release: resolve only
    // that one, not one link per environment.
    for link in links.into_iter().rev() {
        let package = package_of(&link);
        if chosen.contains_key(&package) {
            continue;
        }
        let target = state.resolve_link(&link)?;
        chosen.insert(package, target.release_ref());
    }
    for marker in state.match_refs(
        Area::Records,
        &[Glob::new("**/@*/commit/*")?],
        MatchOptions { no_links: true },
    )? {
        chosen
            .entry(package_of(&marker))
            .or_insert_with(|| marker.release_ref());
    }
    Ok(chosen.into_values().collect())
}
