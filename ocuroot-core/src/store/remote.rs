//! Fetching from and pushing to a store's Git remote, with the `git` binary.
//!
//! `gix` cannot push (gitoxide issue 306), so pushes run `git` (through
//! [`crate::git_subprocess`], like every `git` process of core). Fetch goes through it too,
//! so that every transport (`file://`, plain paths, `git://`, `http(s)://`, `ssh://`) works
//! exactly as it does for `git`. Git runs without the system and global configuration:
//! credentials come from the URL, the SSH agent, an askpass program or the cache
//! repository's own configuration (see `docs/remote-stores.md`).
//!
//! The cache is a bare repository under `$OCUROOT_HOME/stores/`. Its branch
//! `refs/heads/<b>` only ever holds a commit the remote had or accepted: a fetch
//! force-updates it to the remote's tip, and a commit moves it only after the push was
//! accepted. A killed or failed run therefore leaves nothing in the cache that a later run
//! could push by mistake.
//!
//! URLs may carry credentials (`https://user:token@host/…`); every message and location
//! string goes through [`redact`].

use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use gix::ObjectId;

use crate::git_subprocess::{GitCommand, GitEnvironment, GitError};
pub use crate::redact::redact;

/// How a remote-backed store talks to its remote.
#[derive(Clone, Debug)]
pub struct RemoteSettings {
    /// Read the cache only: never fetch, and refuse to write (`OCUROOT_OFFLINE`).
    pub offline: bool,
    /// Reads fetch at most once per this interval per branch and process (0 = every read).
    pub fetch_interval: Duration,
    /// How many pushes a commit tries before giving up with a conflict error.
    pub max_attempts: u32,
    /// Writers on separate caches take turns through a queue on the remote (marker refs
    /// under `refs/ocuroot/waiting/<branch>/`, see `docs/remote-stores.md`): while others
    /// wait, a writer lands at most this many commits in a row. `0` (the default) turns
    /// the queue off: whose push arrives first wins, with back-off.
    pub queue_turn: u32,
    /// Writers that lost a race publish their transaction as a proposal ref, and whoever
    /// pushes next lands every visible proposal with its own commit (see
    /// `docs/remote-stores.md`, "Concurrency guarantees"). `false` (the default; opt in
    /// with `OCUROOT_FOLD=1`): whose push arrives first wins, with back-off. Off by default
    /// because it costs a fetch before every commit and its p99 target is not shown yet
    /// (docs/benchmarks.md, issue 16). Ignored while [`RemoteSettings::queue_turn`] is set.
    pub fold: bool,
    /// The variables `git` processes get (the SSH agent, askpass, proxies); nothing else of
    /// the caller's environment reaches them.
    pub git: GitEnvironment,
}

impl Default for RemoteSettings {
    fn default() -> Self {
        RemoteSettings {
            offline: false,
            fetch_interval: Duration::from_secs(5),
            max_attempts: 100,
            // Off by default: fair, but it costs throughput (docs/benchmarks.md, issue 16).
            queue_turn: 0,
            // Off by default: a fetch before every commit, and not yet measured on a quiet
            // machine (docs/benchmarks.md, issue 16).
            fold: false,
            git: GitEnvironment::default(),
        }
    }
}

/// A store's remote: where it is and where its local cache lives.
#[derive(Clone, Debug)]
pub struct RemoteOptions {
    /// The remote URL or path, exactly as configured (may hold credentials).
    pub url: String,
    /// Whether a missing branch is created by the first commit.
    pub create_branch: bool,
    /// Files (path relative to the branch root → content) kept in the branch.
    pub support_files: std::collections::BTreeMap<String, String>,
    /// Fetch and push behaviour.
    pub settings: RemoteSettings,
}

/// What the remote said to a push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The branch now points at the new commit.
    Accepted,
    /// The branch was not at the expected commit (another writer pushed first); in an
    /// atomic push of several branches, none of them moved.
    Rejected,
    /// The remote cannot update several branches atomically (`--atomic`); nothing moved.
    AtomicUnsupported,
}

/// A failed fetch or push.
#[derive(Debug)]
pub enum RemoteFailure {
    /// The remote could not be reached or refused us (network, auth, missing repository).
    Remote(String),
    /// Something is wrong with the local cache (corrupt objects, missing files).
    Local(String),
}

/// Returns the cache repository path for `url` under `home` (`$OCUROOT_HOME`).
///
/// The folder name is readable (host and path, credentials left out) and ends with a hash
/// of the redacted URL, so two remotes never share a cache.
pub fn cache_path(home: &Path, url: &str) -> PathBuf {
    let redacted = redact(url);
    let without_scheme = redacted
        .split_once("://")
        .map_or(redacted.as_str(), |(_, rest)| rest);
    let without_scheme = without_scheme.trim_start_matches("***@");
    let mut name: String = without_scheme
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    name = name.trim_matches(|c| c == '_' || c == '.').to_string();
    if name.len() > 80 {
        name = name[name.len() - 80..].to_string();
    }
    // FNV-1a: stable across builds and platforms.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in redacted.as_bytes() {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    home.join("stores")
        .join(format!("{name}-{:08x}.git", hash as u32))
}

fn git(env: &GitEnvironment, cache: &Path) -> GitCommand {
    GitCommand::in_git_dir(env, cache)
}

/// Turns a failed git process into a [`RemoteFailure`] by what it said.
fn failure(e: &GitError) -> RemoteFailure {
    let detail = e.detail();
    if is_remote_problem(e.stderr()) {
        RemoteFailure::Remote(detail)
    } else {
        RemoteFailure::Local(detail)
    }
}

/// Messages of `git` that mean the remote, not the cache, is the problem.
fn is_remote_problem(stderr: &str) -> bool {
    const MARKERS: [&str; 16] = [
        "Could not read from remote repository",
        "unable to connect",
        "Connection refused",
        "does not appear to be a git repository",
        "Could not resolve host",
        "unable to access",
        "Authentication failed",
        // No credential for an http(s) remote: with GIT_TERMINAL_PROMPT=0 Git cannot ask.
        "could not read Username",
        "could not read Password",
        "Permission denied",
        "repository not found",
        "Repository not found",
        "not found",
        "remote end hung up",
        "early EOF",
        "timed out",
    ];
    MARKERS.iter().any(|m| stderr.contains(m))
}

fn is_lock_problem(stderr: &str) -> bool {
    stderr.contains(".lock") || stderr.contains("cannot lock ref")
}

/// Fetches `branch` of `url` into `refs/heads/<branch>` of the cache (forced).
///
/// Returns the fetched tip, or `None` when the remote has no such branch (the cache's
/// branch is then removed too).
pub(crate) fn fetch(
    env: &GitEnvironment,
    cache: &Path,
    url: &str,
    branch: &str,
) -> Result<Option<ObjectId>, RemoteFailure> {
    fetch_refs(env, cache, url, branch, None).map(|(tip, _)| tip)
}

/// Fetches `branch` as [`fetch`] does and, in the same `git fetch`, the waiting queue of
/// the branch (its marker refs, pruned of those the remote deleted). The caller reads the
/// cache's refs afterwards.
pub(crate) fn fetch_queue(
    env: &GitEnvironment,
    cache: &Path,
    url: &str,
    branch: &str,
) -> Result<(), RemoteFailure> {
    fetch_refs(env, cache, url, branch, Some(&marker_prefix(branch))).map(|_| ())
}

/// Fetches `branch` as [`fetch`] does and, in the same `git fetch`, the proposals waiting
/// to be folded into it (pruned of those the remote deleted). The caller reads the cache's
/// refs afterwards.
pub(crate) fn fetch_proposals(
    env: &GitEnvironment,
    cache: &Path,
    url: &str,
    branch: &str,
) -> Result<(), RemoteFailure> {
    fetch_refs(env, cache, url, branch, Some(&proposal_prefix(branch))).map(|_| ())
}

/// Fetches `branch` and, when `extra` is given, every ref under that prefix (pruned).
fn fetch_refs(
    env: &GitEnvironment,
    cache: &Path,
    url: &str,
    branch: &str,
    extra: Option<&str>,
) -> Result<(Option<ObjectId>, Vec<Marker>), RemoteFailure> {
    let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
    let markers = extra.is_some();
    let queue_refspec = extra
        .map(|prefix| format!("+{prefix}*:{prefix}*"))
        .unwrap_or_default();
    let mut last = None;
    for attempt in 0..8u32 {
        let mut cmd = git(env, cache);
        cmd.args([
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--update-head-ok",
        ]);
        if markers {
            cmd.arg("--prune");
        }
        cmd.args(["--", url, &refspec]);
        if markers {
            cmd.arg(&queue_refspec);
        }
        let err = match cmd.run() {
            Ok(_) if markers => return Ok((None, Vec::new())),
            Ok(_) => return local_tip(env, cache, branch).map(|tip| (tip, Vec::new())),
            Err(e) => e,
        };
        if let GitError::Spawn { .. } = err {
            return Err(RemoteFailure::Local(err.detail()));
        }
        if err.stderr().contains("couldn't find remote ref") {
            let _ = git(env, cache)
                .args(["update-ref", "-d", &format!("refs/heads/{branch}")])
                .run();
            return Ok((None, Vec::new()));
        }
        let lock_problem = is_lock_problem(err.stderr());
        last = Some(err);
        if lock_problem {
            // Another process sharing this cache is updating the same ref.
            std::thread::sleep(Duration::from_millis(
                20 * u64::from(attempt + 1) + u64::from(rand::random::<u8>() % 20),
            ));
            continue;
        }
        break;
    }
    Err(last.map_or_else(
        || RemoteFailure::Local("fetch gave up".to_string()),
        |e| failure(&e),
    ))
}

/// Fetches `rev` of `url` into the cache and returns the commit it names: a branch or tag
/// name, a full ref such as `refs/pull/12/head`, or a commit id the remote serves.
///
/// The fetched commit is kept under a scratch ref only while it is resolved: its objects
/// stay in the cache for the read that follows. Returns `None` when the remote has no such
/// ref.
pub(crate) fn fetch_rev(
    env: &GitEnvironment,
    cache: &Path,
    url: &str,
    rev: &str,
) -> Result<Option<ObjectId>, RemoteFailure> {
    if rev.is_empty() || rev.starts_with('-') || rev.contains(':') {
        return Ok(None);
    }
    let scratch = format!(
        "refs/ocuroot/fetched/{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let fetched = git(env, cache)
        .args([
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--",
            url,
            &format!("+{rev}:{scratch}"),
        ])
        .run();
    if let Err(e) = fetched {
        if e.stderr().contains("couldn't find remote ref") || e.stderr().contains("not our ref") {
            return Ok(None);
        }
        return Err(failure(&e));
    }
    let id = git(env, cache)
        .args([
            "rev-parse",
            "--verify",
            "-q",
            &format!("{scratch}^{{commit}}"),
        ])
        .run_text()
        .ok()
        .and_then(|text| ObjectId::from_hex(text.as_bytes()).ok());
    let _ = git(env, cache).args(["update-ref", "-d", &scratch]).run();
    Ok(id)
}

/// Returns the cache's `refs/heads/<branch>`.
pub(crate) fn local_tip(
    env: &GitEnvironment,
    cache: &Path,
    branch: &str,
) -> Result<Option<ObjectId>, RemoteFailure> {
    let out = git(env, cache)
        .args([
            "rev-parse",
            "--verify",
            "-q",
            &format!("refs/heads/{branch}^{{commit}}"),
        ])
        .run();
    let text = match out {
        Ok(o) => o.stdout_text(),
        Err(e @ GitError::Spawn { .. }) => return Err(RemoteFailure::Local(e.detail())),
        Err(_) => return Ok(None),
    };
    ObjectId::from_hex(text.as_bytes())
        .map(Some)
        .map_err(|e| RemoteFailure::Local(format!("bad object id from git: {e}")))
}

/// Asks the remote for the tip of `branch` and the markers of its waiting queue, without
/// fetching anything (`git ls-remote`): how a waiter far from its turn polls.
pub(crate) fn list_queue(
    env: &GitEnvironment,
    cache: &Path,
    url: &str,
    branch: &str,
) -> Result<(Option<ObjectId>, Vec<Marker>), RemoteFailure> {
    let head = format!("refs/heads/{branch}");
    let prefix = marker_prefix(branch);
    let out = git(env, cache)
        .args(["ls-remote", "--", url, &head, &format!("{prefix}*")])
        .run()
        .map_err(|e| match e {
            GitError::Spawn { .. } => RemoteFailure::Local(e.detail()),
            _ => failure(&e),
        })?;
    let listing = String::from_utf8_lossy(&out.stdout);
    let mut tip = None;
    let mut markers = Vec::new();
    for line in listing.lines() {
        let Some((id, name)) = line.split_once('\t') else {
            continue;
        };
        let Ok(id) = ObjectId::from_hex(id.as_bytes()) else {
            continue;
        };
        if name == head {
            tip = Some(id);
        } else if let Some(writer) = marker_writer(branch, name) {
            markers.push(Marker {
                writer: writer.to_string(),
                at: id,
            });
        }
    }
    Ok((tip, markers))
}

/// The ref folder of the waiting queue of `branch` on the remote (and in the cache).
pub(crate) fn marker_prefix(branch: &str) -> String {
    format!("refs/ocuroot/waiting/{branch}/")
}

/// The marker ref of `writer` waiting for `branch`.
pub(crate) fn marker_ref(branch: &str, writer: &str) -> String {
    format!("{}w-{writer}", marker_prefix(branch))
}

/// The writer id of a marker ref of `branch`, `None` for anything else (a marker of a
/// branch whose name continues below `branch/`, a ref not made by ocuroot).
pub(crate) fn marker_writer<'a>(branch: &str, name: &'a str) -> Option<&'a str> {
    let rest = name.strip_prefix(&marker_prefix(branch))?;
    let writer = rest.strip_prefix("w-")?;
    (!writer.is_empty() && writer.chars().all(|c| c.is_ascii_hexdigit())).then_some(writer)
}

/// A new random writer id (16 hex digits) for the waiting queue.
pub(crate) fn new_writer_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The ref folder of the proposals waiting to be folded into `branch` (on the remote and
/// in the cache).
pub(crate) fn proposal_prefix(branch: &str) -> String {
    format!("refs/ocuroot/proposals/{branch}/")
}

/// The proposal ref with id `id` (`<writer>-<nonce>`) for `branch`.
pub(crate) fn proposal_ref(branch: &str, id: &str) -> String {
    format!("{}{id}", proposal_prefix(branch))
}

/// The id of a proposal ref of `branch` (`<writer>-<nonce>`, hex digits), `None` for
/// anything else (a proposal of a branch below `branch/`, a ref not made by ocuroot).
pub(crate) fn proposal_id<'a>(branch: &str, name: &'a str) -> Option<&'a str> {
    let id = name.strip_prefix(&proposal_prefix(branch))?;
    let (writer, nonce) = id.split_once('-')?;
    let hex = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit());
    (hex(writer) && hex(nonce)).then_some(id)
}

/// Creates the proposal ref `name` of `url` at `at`, which must not exist yet (a lease on
/// "absent"): proposal ids are never reused, so an existing ref is someone else's.
pub(crate) fn push_proposal(
    env: &GitEnvironment,
    cache: &Path,
    url: &str,
    name: &str,
    at: ObjectId,
) -> Result<(), RemoteFailure> {
    git(env, cache)
        .args(["push", "--porcelain", "--quiet"])
        .arg(format!("--force-with-lease={name}:"))
        .args(["--", url])
        .arg(format!("{at}:{name}"))
        .run()
        .map(|_| ())
        .map_err(|e| failure(&e))
}

/// The folding state of one (cache, branch) in this process.
#[derive(Clone, Debug)]
pub(crate) struct FoldState {
    /// This process's writer id for the branch (random, fixed for the process).
    pub writer: String,
    /// The remote refused an atomic push: folding is off for this cache.
    pub unsupported: bool,
}

static FOLDS: LazyLock<Mutex<std::collections::HashMap<(PathBuf, String), FoldState>>> =
    LazyLock::new(|| Mutex::new(std::collections::HashMap::new()));

/// The folding state of `branch` of `cache` (a fresh writer id on first use).
pub(crate) fn fold_state(cache: &Path, branch: &str) -> FoldState {
    let mut map = FOLDS.lock().unwrap_or_else(|p| p.into_inner());
    map.entry((cache.to_path_buf(), branch.to_string()))
        .or_insert_with(|| FoldState {
            writer: new_writer_id(),
            unsupported: false,
        })
        .clone()
}

/// Updates the folding state of `branch` of `cache` with `f`.
pub(crate) fn update_fold_state(cache: &Path, branch: &str, f: impl FnOnce(&mut FoldState)) {
    let mut state = fold_state(cache, branch);
    f(&mut state);
    let mut map = FOLDS.lock().unwrap_or_else(|p| p.into_inner());
    map.insert((cache.to_path_buf(), branch.to_string()), state);
}

/// A writer waiting for its turn to push to a branch: the marker ref
/// `refs/ocuroot/waiting/<branch>/w-<writer>`, pointing at the branch tip the writer saw
/// when it started waiting (a commit the remote has, so the marker costs no objects).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Marker {
    /// The writer's random id.
    pub writer: String,
    /// The tip it saw when it registered.
    pub at: ObjectId,
}

/// Markers whose commit is this many first-parent commits or more below the tip (or not on
/// the branch at all) are stale: their writer was killed, a live waiter lands long before.
pub(crate) const STALE_DEPTH: usize = 256;

/// Orders the waiting queue of a branch: `depth` gives, for a commit within
/// [`STALE_DEPTH`] first-parent steps of the tip, how many steps below the tip it is.
/// Returns the live markers first come first (the one that saw the oldest tip first; ties
/// by writer id), and the stale ones.
pub(crate) fn order_queue<'a>(
    markers: &'a [Marker],
    depth: &std::collections::HashMap<ObjectId, usize>,
) -> (Vec<&'a Marker>, Vec<&'a Marker>) {
    let (mut live, stale): (Vec<&Marker>, Vec<&Marker>) = markers
        .iter()
        .partition(|m| depth.get(&m.at).is_some_and(|d| *d < STALE_DEPTH));
    live.sort_by(|a, b| {
        depth[&b.at]
            .cmp(&depth[&a.at])
            .then_with(|| a.writer.cmp(&b.writer))
    });
    (live, stale)
}

/// The waiting-queue state of one (cache, branch) in this process: the writer id and how
/// many more commits the writer may land before it looks at the queue again.
#[derive(Clone, Debug)]
pub(crate) struct QueueState {
    /// This process's writer id for the branch (random, fixed for the process).
    pub writer: String,
    /// Commits left in the current turn; at 0 the next commit looks at the queue first.
    pub turn_left: u32,
    /// The remote refused an atomic push: the queue is off for this cache.
    pub unsupported: bool,
    /// Markers (writer, commit) that stayed first in the queue too long: their writer is
    /// taken for dead, they are ignored and deleted by the next landing push.
    pub passed: std::collections::HashSet<(String, ObjectId)>,
}

static QUEUES: LazyLock<Mutex<std::collections::HashMap<(PathBuf, String), QueueState>>> =
    LazyLock::new(|| Mutex::new(std::collections::HashMap::new()));

/// The queue state of `branch` of `cache`. On first use: a fresh writer id, and a first
/// turn of `turn` commits (a process that just opened the store has just fetched).
pub(crate) fn queue_state(cache: &Path, branch: &str, turn: u32) -> QueueState {
    let mut map = QUEUES.lock().unwrap_or_else(|p| p.into_inner());
    map.entry((cache.to_path_buf(), branch.to_string()))
        .or_insert_with(|| QueueState {
            writer: new_writer_id(),
            turn_left: turn,
            unsupported: false,
            passed: Default::default(),
        })
        .clone()
}

/// Stores the queue state of `branch` of `cache` (callers hold the cache's commit lock).
pub(crate) fn set_queue_state(cache: &Path, branch: &str, state: QueueState) {
    let mut map = QUEUES.lock().unwrap_or_else(|p| p.into_inner());
    map.insert((cache.to_path_buf(), branch.to_string()), state);
}

/// Creates or moves the marker ref `name` of `url` to `at` (forced: it is this writer's).
pub(crate) fn push_marker(
    env: &GitEnvironment,
    cache: &Path,
    url: &str,
    name: &str,
    at: ObjectId,
) -> Result<(), RemoteFailure> {
    git(env, cache)
        .args(["push", "--porcelain", "--quiet", "--", url])
        .arg(format!("+{at}:{name}"))
        .run()
        .map(|_| ())
        .map_err(|e| failure(&e))
}

/// Deletes the marker or proposal ref `name` of `url` if it still points at `at` (a lease:
/// it fails when the ref is gone or moved).
pub(crate) fn delete_marker(
    env: &GitEnvironment,
    cache: &Path,
    url: &str,
    name: &str,
    at: ObjectId,
) -> Result<(), RemoteFailure> {
    git(env, cache)
        .args(["push", "--porcelain", "--quiet"])
        .arg(format!("--force-with-lease={name}:{at}"))
        .args(["--", url])
        .arg(format!(":{name}"))
        .run()
        .map(|_| ())
        .map_err(|e| failure(&e))
}

/// Asks the remote which branch its `HEAD` names (for `store.git(url)` without a branch).
pub(crate) fn default_branch(
    env: &GitEnvironment,
    url: &str,
) -> Result<Option<String>, RemoteFailure> {
    let out = GitCommand::outside_repository(env)
        .args(["ls-remote", "--symref", "--", url, "HEAD"])
        .run()
        .map_err(|e| match e {
            GitError::Spawn { .. } => RemoteFailure::Local(e.detail()),
            _ => RemoteFailure::Remote(e.stderr().to_string()),
        })?;
    Ok(String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        l.strip_prefix("ref: refs/heads/")
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string)
    }))
}

/// One branch update of a push: move `refs/heads/<branch>` to `new` if the remote branch is
/// at `expected` (`None`: the branch must not exist yet).
#[derive(Clone, Copy, Debug)]
pub(crate) struct BranchUpdate<'a> {
    pub branch: &'a str,
    pub new: ObjectId,
    pub expected: Option<ObjectId>,
}

/// Pushes `new` to `refs/heads/<branch>` of `url` if the remote branch is at `expected`
/// (`None`: the branch must not exist yet).
///
/// Runs `git push --porcelain --force-with-lease=refs/heads/<b>:<expected> <url>
/// <new>:refs/heads/<b>` and reads the porcelain status line of the ref.
pub(crate) fn push(
    env: &GitEnvironment,
    cache: &Path,
    url: &str,
    branch: &str,
    new: ObjectId,
    expected: Option<ObjectId>,
) -> Result<PushOutcome, RemoteFailure> {
    push_branches(
        env,
        cache,
        url,
        &[BranchUpdate {
            branch,
            new,
            expected,
        }],
    )
}

/// Updates several branches of `url` in one `git push`, each with its own lease.
///
/// With more than one branch the push is `--atomic`: the remote moves all of them or none,
/// so a reader never sees one branch ahead of the other, and a lost race on any branch is
/// [`PushOutcome::Rejected`] for all. A remote without atomic pushes answers
/// [`PushOutcome::AtomicUnsupported`] and nothing moved.
///
/// The outcome of a failed push is decided by what the remote holds afterwards, not by
/// git's wording (which differs between transports, git versions and the client and server
/// side of an atomic push): [`remote_tips`] reads the pushed branches, and [`classify`]
/// calls it a lost race when a branch is no longer at its lease, a success when every
/// branch is at the new commit, and a real failure otherwise. Porcelain status lines that
/// plainly say a lease was stale are only a fast path that saves that round trip.
pub(crate) fn push_branches(
    env: &GitEnvironment,
    cache: &Path,
    url: &str,
    updates: &[BranchUpdate<'_>],
) -> Result<PushOutcome, RemoteFailure> {
    push_with_deletions(env, cache, url, updates, &[])
}

/// [`push_branches`], deleting in the same atomic push the refs `deletions` (full names,
/// each with a lease on the commit it must still point at): the waiting queue's markers.
/// Only the branches decide the outcome; when they did not move although the push failed,
/// a marker that was no longer at its lease may be the reason, so callers retry without
/// deletions before they report a failure.
pub(crate) fn push_with_deletions(
    env: &GitEnvironment,
    cache: &Path,
    url: &str,
    updates: &[BranchUpdate<'_>],
    deletions: &[(String, ObjectId)],
) -> Result<PushOutcome, RemoteFailure> {
    let mut cmd = git(env, cache);
    cmd.args(["push", "--porcelain"]);
    if updates.len() + deletions.len() > 1 {
        cmd.arg("--atomic");
    }
    for u in updates {
        cmd.arg(format!(
            "--force-with-lease=refs/heads/{}:{}",
            u.branch,
            u.expected.map(|e| e.to_string()).unwrap_or_default()
        ));
    }
    for (name, at) in deletions {
        cmd.arg(format!("--force-with-lease={name}:{at}"));
    }
    cmd.args(["--", url]);
    for u in updates {
        cmd.arg(format!("{}:refs/heads/{}", u.new, u.branch));
    }
    for (name, _) in deletions {
        cmd.arg(format!(":{name}"));
    }
    let err = match cmd.run() {
        Ok(_) => return Ok(PushOutcome::Accepted),
        Err(e @ GitError::Spawn { .. }) => return Err(RemoteFailure::Local(e.detail())),
        Err(e) => e,
    };
    let (stdout, stderr) = (err.stdout(), err.stderr());
    if stderr.contains("does not support --atomic") {
        return Ok(PushOutcome::AtomicUnsupported);
    }
    if stale_lease_reported(stdout, updates) {
        return Ok(PushOutcome::Rejected);
    }
    // Both already redacted by the git module.
    let said = [stdout, stderr]
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let tips = remote_tips(env, cache, url, updates).map_err(|f| match f {
        // The push's own message says more than the follow-up query's.
        RemoteFailure::Remote(_) => RemoteFailure::Remote(said.clone()),
        RemoteFailure::Local(detail) => RemoteFailure::Local(format!(
            "{said}\n(and the remote's branches could not be read: {detail})"
        )),
    })?;
    match classify(updates, &tips) {
        Some(outcome) => Ok(outcome),
        None if is_remote_problem(&said) || !said.contains("error: ") => {
            Err(RemoteFailure::Remote(format!("push failed: {said}")))
        }
        None => Err(RemoteFailure::Local(format!("push failed: {said}"))),
    }
}

/// True when the porcelain output reports, for some branch, the stale lease or
/// non-fast-forward that git's client detects before sending anything: the plain lost race
/// of a single-branch push, decided without asking the remote again.
fn stale_lease_reported(stdout: &str, updates: &[BranchUpdate<'_>]) -> bool {
    updates.iter().any(|u| {
        let full = format!("refs/heads/{}", u.branch);
        stdout.lines().any(|l| {
            let mut parts = l.split('\t');
            let (flag, refs, summary) = (parts.next(), parts.next(), parts.next());
            flag == Some("!")
                && refs.is_some_and(|r| r.ends_with(&full))
                && summary.is_some_and(|s| {
                    s.contains("stale info")
                        || s.contains("fetch first")
                        || s.contains("non-fast-forward")
                })
        })
    })
}

/// Decides a failed push from the remote's tips afterwards (`tips[i]` is the tip of
/// `updates[i].branch`, `None` when the branch does not exist): every branch at its new
/// commit is a success (the push landed although git reported a failure, for example a
/// hook that failed after the update); a branch that is no longer at its lease is a lost
/// race (another writer moved it); `None` means nothing moved, so the failure is real.
pub(crate) fn classify(
    updates: &[BranchUpdate<'_>],
    tips: &[Option<ObjectId>],
) -> Option<PushOutcome> {
    let landed = updates.iter().zip(tips).all(|(u, t)| *t == Some(u.new));
    if landed {
        return Some(PushOutcome::Accepted);
    }
    let moved = updates
        .iter()
        .zip(tips)
        .any(|(u, t)| *t != u.expected && *t != Some(u.new));
    moved.then_some(PushOutcome::Rejected)
}

/// Reads the remote's current tips of the branches of `updates` (`git ls-remote`), in the
/// order of `updates`.
pub(crate) fn remote_tips(
    env: &GitEnvironment,
    cache: &Path,
    url: &str,
    updates: &[BranchUpdate<'_>],
) -> Result<Vec<Option<ObjectId>>, RemoteFailure> {
    let mut cmd = git(env, cache);
    cmd.args(["ls-remote", "--", url]);
    for u in updates {
        cmd.arg(format!("refs/heads/{}", u.branch));
    }
    let out = cmd.run().map_err(|e| match e {
        GitError::Spawn { .. } => RemoteFailure::Local(e.detail()),
        _ => RemoteFailure::Remote(e.stderr().to_string()),
    })?;
    let listing = String::from_utf8_lossy(&out.stdout);
    updates
        .iter()
        .map(|u| {
            let full = format!("refs/heads/{}", u.branch);
            listing
                .lines()
                .find_map(|l| {
                    let (id, name) = l.split_once('\t')?;
                    (name == full).then_some(id)
                })
                .map(|id| {
                    ObjectId::from_hex(id.as_bytes()).map_err(|e| {
                        RemoteFailure::Remote(format!("unexpected ls-remote output {id:?}: {e}"))
                    })
                })
                .transpose()
        })
        .collect()
}

/// Runs `f` holding the commit lock of `cache`, waiting while another writer holds it; the
/// wait is added to `waited`.
///
/// Writers sharing a cache (jobs on one runner sharing `$OCUROOT_HOME`, threads of one
/// process) would otherwise race each other to the remote: all but one push would be
/// rejected, and the winner, whose cache already holds the new tip, keeps winning. Under the
/// lock they take turns: each builds on the tip the previous one pushed (the cache's branch
/// moves when a push is accepted) and its push is only rejected when a writer on another
/// machine got in first. The lock is a `flock` on `<cache>/ocuroot-commit.lock`, released by
/// the kernel when its holder dies, so a killed job never blocks the others.
pub(crate) fn with_commit_lock<T>(
    cache: &Path,
    waited: &mut Duration,
    f: impl FnOnce() -> T,
) -> Result<T, RemoteFailure> {
    let path = cache.join("ocuroot-commit.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| RemoteFailure::Local(format!("cannot open {}: {e}", path.display())))?;
    let mut lock = fd_lock::RwLock::new(file);
    let started = Instant::now();
    let guard = lock
        .write()
        .map_err(|e| RemoteFailure::Local(format!("cannot lock {}: {e}", path.display())))?;
    *waited += started.elapsed();
    let out = f();
    drop(guard);
    Ok(out)
}

/// When each (cache, branch) of this process was last fetched (the debounce).
static LAST_FETCH: LazyLock<Mutex<std::collections::HashMap<(PathBuf, String), Instant>>> =
    LazyLock::new(|| Mutex::new(std::collections::HashMap::new()));

/// True when `branch` of `cache` was fetched less than `interval` ago in this process.
pub(crate) fn fetched_recently(cache: &Path, branch: &str, interval: Duration) -> bool {
    if interval.is_zero() {
        return false;
    }
    LAST_FETCH
        .lock()
        .ok()
        .and_then(|m| m.get(&(cache.to_path_buf(), branch.to_string())).copied())
        .is_some_and(|t| t.elapsed() < interval)
}

/// Records a fetch of `branch` into `cache` now.
pub(crate) fn mark_fetched(cache: &Path, branch: &str) {
    if let Ok(mut m) = LAST_FETCH.lock() {
        m.insert((cache.to_path_buf(), branch.to_string()), Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_paths_hide_query_credentials() {
        // See: issue 12 ("a token in a URL's query string appears in errors").
        let cache = cache_path(Path::new("/h"), "https://host/r.git?token=t0ps3cret");
        assert!(!cache.to_string_lossy().contains("t0ps3cret"), "{cache:?}");
    }

    fn id(n: u8) -> ObjectId {
        ObjectId::from_hex(format!("{n:02x}").repeat(20).as_bytes()).expect("hex")
    }

    #[test]
    fn classify_decides_from_the_remote_tips() {
        let up = |branch, new, expected: Option<u8>| BranchUpdate {
            branch,
            new: id(new),
            expected: expected.map(id),
        };
        let one = [up("state", 2, Some(1))];
        // Another writer moved the branch: a lost race.
        assert_eq!(classify(&one, &[Some(id(9))]), Some(PushOutcome::Rejected));
        // Someone deleted it: also not at the lease.
        assert_eq!(classify(&one, &[None]), Some(PushOutcome::Rejected));
        // Still at the lease: nothing moved, a real failure.
        assert_eq!(classify(&one, &[Some(id(1))]), None);
        // At our commit: it landed although git reported a failure.
        assert_eq!(classify(&one, &[Some(id(2))]), Some(PushOutcome::Accepted));
        // A branch that must not exist yet, created by someone else.
        let create = [up("intent", 2, None)];
        assert_eq!(
            classify(&create, &[Some(id(7))]),
            Some(PushOutcome::Rejected)
        );
        assert_eq!(classify(&create, &[None]), None);
        // Atomic push of two branches: one moved by another writer is a lost race for both.
        let two = [up("state", 2, Some(1)), up("intent", 4, Some(3))];
        assert_eq!(
            classify(&two, &[Some(id(1)), Some(id(8))]),
            Some(PushOutcome::Rejected)
        );
        assert_eq!(classify(&two, &[Some(id(1)), Some(id(3))]), None);
        assert_eq!(
            classify(&two, &[Some(id(2)), Some(id(4))]),
            Some(PushOutcome::Accepted)
        );
    }

    #[test]
    fn stale_leases_are_a_fast_path_only_for_the_pushed_branch() {
        let u = [BranchUpdate {
            branch: "state",
            new: id(2),
            expected: Some(id(1)),
        }];
        let stale = "To /r.git\n!\t0202:refs/heads/state\t[rejected] (stale info)\nDone\n";
        assert!(stale_lease_reported(stale, &u));
        let other = "!\t0202:refs/heads/intent\t[rejected] (stale info)\n";
        assert!(!stale_lease_reported(other, &u));
        // The server side of an atomic push: decided by the tips, not by this text.
        let atomic = "!\t0202:refs/heads/state\t[remote rejected] (atomic transaction failed)\n";
        assert!(!stale_lease_reported(atomic, &u));
    }

    #[test]
    fn marker_names_round_trip_and_reject_other_refs() {
        let w = new_writer_id();
        assert_eq!(w.len(), 16);
        let name = marker_ref("state", &w);
        assert_eq!(name, format!("refs/ocuroot/waiting/state/w-{w}"));
        assert_eq!(marker_writer("state", &name), Some(w.as_str()));
        // A marker of the branch `state/x` is not one of `state`'s.
        assert_eq!(
            marker_writer("state", &marker_ref("state/x", &w)),
            None,
            "nested branch"
        );
        assert_eq!(
            marker_writer("state", "refs/ocuroot/waiting/state/w-"),
            None
        );
        assert_eq!(
            marker_writer("state", "refs/ocuroot/waiting/state/zz"),
            None
        );
        assert_eq!(marker_writer("state", "refs/heads/state"), None);
        assert_eq!(marker_writer("intent", &name), None);
    }

    #[test]
    fn the_queue_is_first_come_first_served_and_drops_stale_markers() {
        let m = |writer: &str, at: u8| Marker {
            writer: writer.to_string(),
            at: id(at),
        };
        // Commits 1 (tip), 2, 3, ... below it; 9 is not on the branch.
        let depth: std::collections::HashMap<ObjectId, usize> =
            [(id(1), 0), (id(2), 1), (id(3), 2), (id(4), STALE_DEPTH)]
                .into_iter()
                .collect();
        let markers = [
            m("bb", 1),
            m("cc", 3),
            m("aa", 1),
            m("dd", 9),
            m("ee", 2),
            m("ff", 4),
        ];
        let (live, stale) = order_queue(&markers, &depth);
        let order: Vec<&str> = live.iter().map(|m| m.writer.as_str()).collect();
        // The oldest tip first; equal tips by writer id.
        assert_eq!(order, ["cc", "ee", "aa", "bb"]);
        let stale: Vec<&str> = stale.iter().map(|m| m.writer.as_str()).collect();
        assert_eq!(stale, ["dd", "ff"]);
    }

    #[test]
    fn cache_paths_hide_credentials_and_differ() {
        let home = Path::new("/h");
        let a = cache_path(home, "https://user:pw@example.com/org/repo.git");
        assert!(!a.to_string_lossy().contains("pw"), "{}", a.display());
        assert!(a.starts_with("/h/stores"));
        let b = cache_path(home, "https://example.com/org/other.git");
        assert_ne!(a, b);
        assert_eq!(
            a,
            cache_path(home, "https://u2:pw2@example.com/org/repo.git")
        );
    }
}
