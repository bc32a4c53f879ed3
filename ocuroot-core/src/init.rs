//! Starter files for `ocuroot init`: `repo.ocu.star`, an example release with its
//! environments, and CI configuration for GitHub Actions and GitLab CI.
//!
//! The templates live in `src/init/` and are compiled in. This module renders them into
//! [`InitFile`]s (full path, contents, what to do if the file exists) and decides with
//! [`plan_writes`] which files to create, overwrite or keep; writing them is the caller's
//! job, so the CLI can report each file. Every check runs before anything is written: a
//! refused file means no file is written.
//!
//! Where files go: [`project_root`] is the folder holding `repo.ocu.star` (searching
//! upwards), else the Git work tree's root, else the working directory. `repo.ocu.star`,
//! `environments.ocu.star` and CI files go there; a release file goes to the working
//! directory, since a package can live anywhere in the repository.

use std::path::{Path, PathBuf};

use crate::config::{self, REPO_CONFIG_FILE};
use crate::refs::Ref;

const REPO_TEMPLATE: &str = include_str!("init/repo.ocu.star");
const RELEASE_TEMPLATE: &str = include_str!("init/release.ocu.star");
const ENVIRONMENTS_TEMPLATE: &str = include_str!("init/environments.ocu.star");
const GITHUB_TEMPLATE: &str = include_str!("init/github-actions.yml");
const GITLAB_TEMPLATE: &str = include_str!("init/gitlab-ci.yml");
const CODEOWNERS_TEMPLATE: &str = include_str!("init/intent-CODEOWNERS");
const GITLAB_CODEOWNERS_TEMPLATE: &str = include_str!("init/intent-CODEOWNERS-gitlab");

/// Where `init ci github-actions` writes the CODEOWNERS template for the intent branch,
/// relative to the project root.
pub const INTENT_CODEOWNERS_FILE: &str = ".github/ocuroot-intent-CODEOWNERS";

/// Where `init ci gitlab` writes the CODEOWNERS template for the intent branch, to be
/// committed there as `.gitlab/CODEOWNERS` (GitLab reads CODEOWNERS from a merge request's
/// target branch).
pub const GITLAB_INTENT_CODEOWNERS_FILE: &str = ".gitlab/ocuroot-intent-CODEOWNERS";

/// The placeholders the templates hold.
#[cfg(test)]
const MARKERS: [&str; 5] = [
    "@ALIAS@",
    "@FILE@",
    "@SOURCE_BRANCH@",
    "@INTENT_BRANCH@",
    "@OCUROOT_GIT_URL@",
];

/// The environments file `init release` writes when the repository has none.
pub const ENVIRONMENTS_FILE: &str = "environments.ocu.star";

/// The file suffix of packages.
const PACKAGE_SUFFIX: &str = ".ocu.star";

/// Errors of `init`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The repository alias cannot be a ref's repository part.
    #[error("invalid repository alias {alias:?}: {reason}")]
    InvalidAlias {
        /// The alias.
        alias: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No alias was given and none could be derived.
    #[error(
        "cannot derive a repository alias for {root}: no `origin` remote and no usable folder name"
    )]
    NoAlias {
        /// The project root.
        root: PathBuf,
    },
    /// The release name cannot be a package file name.
    #[error("invalid release name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A branch name cannot be used in the CI configuration.
    #[error("invalid branch name {branch:?}: use letters, digits, `.`, `_`, `-` and `/`")]
    InvalidBranch {
        /// The branch.
        branch: String,
    },
    /// A file exists and may not be overwritten.
    #[error("{path} already exists")]
    Exists {
        /// The file.
        path: PathBuf,
    },
}

/// The result type of this module.
pub type InitResult<T> = Result<T, InitError>;

/// What to do when a file to write already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfExists {
    /// Refuse (an [`InitError::Exists`]) unless forced, then overwrite.
    Refuse,
    /// Keep the existing file, even when forced.
    Keep,
}

/// A file `init` wants to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitFile {
    /// The full path.
    pub path: PathBuf,
    /// The contents.
    pub contents: String,
    /// What to do when it exists.
    pub if_exists: IfExists,
}

/// What [`plan_writes`] decided for a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The file does not exist: write it.
    Create,
    /// The file exists and writing was forced: replace it.
    Overwrite,
    /// The file exists and is kept as it is.
    Keep,
}

/// A CI platform `init ci` writes configuration for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CiPlatform {
    /// GitHub Actions: `.github/workflows/ocuroot.yml`.
    GithubActions,
    /// GitLab CI: `.gitlab-ci.yml`.
    Gitlab,
}

impl CiPlatform {
    /// Returns the configuration file's path relative to the project root.
    pub fn file(self) -> &'static str {
        match self {
            CiPlatform::GithubActions => ".github/workflows/ocuroot.yml",
            CiPlatform::Gitlab => ".gitlab-ci.yml",
        }
    }
}

/// Settings of the CI configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CiOptions {
    /// The branch whose pushes release (`ocuroot push`).
    pub source_branch: String,
    /// The intent store's branch, whose pushes run `ocuroot work cascade`.
    pub intent_branch: String,
    /// The Git URL ocuroot is installed from with `cargo install --git`.
    pub install_url: String,
}

/// Returns where `init` writes shared files: the nearest folder at or above `cwd` holding
/// `repo.ocu.star`, else the root of the Git work tree around `cwd`, else `cwd`.
pub fn project_root(cwd: &Path) -> PathBuf {
    if let Some(root) = config::find_repo_root(cwd) {
        return root;
    }
    gix::discover(cwd)
        .ok()
        .and_then(|repo| repo.workdir().map(Path::to_path_buf))
        .and_then(|dir| dir.canonicalize().ok().or(Some(dir)))
        .unwrap_or_else(|| cwd.to_path_buf())
}

/// Returns the alias `init repo` uses without `--alias`: the name derived from the
/// `origin` remote's URL (as ocuroot names a repository without an alias), else the
/// project folder's name.
///
/// # Errors
///
/// [`InitError::NoAlias`] when neither gives a valid alias.
pub fn default_alias(root: &Path) -> InitResult<String> {
    let origin = gix::discover(root).ok().and_then(|repo| {
        repo.config_snapshot()
            .string("remote.origin.url")
            .map(|s| s.to_string())
    });
    let candidates = origin
        .map(|url| config::repo_name_from_url(&url))
        .into_iter()
        .chain(root.file_name().map(|n| n.to_string_lossy().into_owned()));
    for alias in candidates {
        if validate_alias(&alias).is_ok() {
            return Ok(alias);
        }
    }
    Err(InitError::NoAlias {
        root: root.to_path_buf(),
    })
}

/// Checks that `alias` can name a repository in refs and be written in a Starlark string.
///
/// # Errors
///
/// [`InitError::InvalidAlias`] saying what is wrong.
pub fn validate_alias(alias: &str) -> InitResult<()> {
    let bad = |reason| InitError::InvalidAlias {
        alias: alias.to_string(),
        reason,
    };
    if alias.is_empty() {
        return Err(bad("it is empty"));
    }
    if alias
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '"' | '\'' | '\\'))
    {
        return Err(bad("it contains whitespace, quotes or backslashes"));
    }
    let probe = format!("{alias}/-/{REPO_CONFIG_FILE}");
    match Ref::parse(&probe) {
        Ok(r) if r.repo == alias && r.ensure_storable().is_ok() => Ok(()),
        _ => Err(bad("it is not a valid repository part of a ref")),
    }
}

/// Renders `repo.ocu.star` for `alias` at the project root.
///
/// # Errors
///
/// [`InitError::InvalidAlias`].
pub fn repo_files(root: &Path, alias: &str) -> InitResult<Vec<InitFile>> {
    validate_alias(alias)?;
    Ok(vec![InitFile {
        path: root.join(REPO_CONFIG_FILE),
        contents: REPO_TEMPLATE.replace("@ALIAS@", alias),
        if_exists: IfExists::Refuse,
    }])
}

/// Renders the example package `<name>.ocu.star` in `dir` and `environments.ocu.star` at
/// the project root (kept if it exists). `name` may end in `.ocu.star`.
///
/// # Errors
///
/// [`InitError::InvalidName`] for an empty name, a path, or the names of the
/// configuration and environments files.
pub fn release_files(dir: &Path, root: &Path, name: &str) -> InitResult<Vec<InitFile>> {
    let bad = |reason| InitError::InvalidName {
        name: name.to_string(),
        reason,
    };
    let stem = name.strip_suffix(PACKAGE_SUFFIX).unwrap_or(name);
    if stem.is_empty() {
        return Err(bad("it is empty"));
    }
    if !stem
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        || stem.starts_with('.')
    {
        return Err(bad(
            "use letters, digits, `_`, `-` and `.` (not first); the file is written to the current directory",
        ));
    }
    let file = format!("{stem}{PACKAGE_SUFFIX}");
    if file == REPO_CONFIG_FILE || file == ENVIRONMENTS_FILE {
        return Err(bad("that file name is reserved"));
    }
    Ok(vec![
        InitFile {
            path: dir.join(&file),
            contents: RELEASE_TEMPLATE.replace("@FILE@", &file),
            if_exists: IfExists::Refuse,
        },
        InitFile {
            path: root.join(ENVIRONMENTS_FILE),
            contents: ENVIRONMENTS_TEMPLATE.to_string(),
            if_exists: IfExists::Keep,
        },
    ])
}

/// Renders the CI configuration of `platform` at the project root.
///
/// # Errors
///
/// [`InitError::InvalidBranch`] for a branch name that would need quoting.
pub fn ci_files(root: &Path, platform: CiPlatform, opts: &CiOptions) -> InitResult<Vec<InitFile>> {
    for branch in [&opts.source_branch, &opts.intent_branch] {
        let ok = !branch.is_empty()
            && !branch.starts_with(['-', '/', '.'])
            && branch
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'));
        if !ok {
            return Err(InitError::InvalidBranch {
                branch: branch.clone(),
            });
        }
    }
    let template = match platform {
        CiPlatform::GithubActions => GITHUB_TEMPLATE,
        CiPlatform::Gitlab => GITLAB_TEMPLATE,
    };
    let contents = template
        .replace("@SOURCE_BRANCH@", &opts.source_branch)
        .replace("@INTENT_BRANCH@", &opts.intent_branch)
        .replace("@OCUROOT_GIT_URL@", &opts.install_url);
    let mut files = vec![InitFile {
        path: root.join(platform.file()),
        contents,
        if_exists: IfExists::Refuse,
    }];
    let (owners_file, owners) = match platform {
        CiPlatform::GithubActions => (INTENT_CODEOWNERS_FILE, CODEOWNERS_TEMPLATE),
        CiPlatform::Gitlab => (GITLAB_INTENT_CODEOWNERS_FILE, GITLAB_CODEOWNERS_TEMPLATE),
    };
    files.push(InitFile {
        path: root.join(owners_file),
        contents: owners.replace("@INTENT_BRANCH@", &opts.intent_branch),
        if_exists: IfExists::Keep,
    });
    Ok(files)
}

/// Decides for each file whether to create, overwrite or keep it.
///
/// # Errors
///
/// [`InitError::Exists`] for the first existing file with [`IfExists::Refuse`] when not
/// `force`d; then nothing should be written.
pub fn plan_writes(files: Vec<InitFile>, force: bool) -> InitResult<Vec<(InitFile, Action)>> {
    files
        .into_iter()
        .map(|file| {
            let action = match (file.path.exists(), file.if_exists, force) {
                (false, _, _) => Action::Create,
                (true, IfExists::Keep, _) => Action::Keep,
                (true, IfExists::Refuse, true) => Action::Overwrite,
                (true, IfExists::Refuse, false) => {
                    return Err(InitError::Exists {
                        path: file.path.clone(),
                    });
                }
            };
            Ok((file, action))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("github.com/acme/app"; "host and path")]
    #[test_case("app"; "plain")]
    #[test_case("gitlab.example.com/group/sub/app"; "nested")]
    fn valid_aliases(alias: &str) {
        validate_alias(alias).expect("valid");
    }

    #[test_case(""; "empty")]
    #[test_case("a b"; "space")]
    #[test_case("a\"b"; "quote")]
    #[test_case("a/-/b"; "separator")]
    #[test_case("../x"; "escape")]
    #[test_case("a@b"; "release marker")]
    fn invalid_aliases(alias: &str) {
        assert!(validate_alias(alias).is_err(), "{alias:?} accepted");
    }

    #[test]
    fn release_names() {
        let dir = Path::new("/r/sub");
        let root = Path::new("/r");
        let files = release_files(dir, root, "api.ocu.star").expect("valid");
        assert_eq!(files[0].path, Path::new("/r/sub/api.ocu.star"));
        assert_eq!(files[1].path, Path::new("/r/environments.ocu.star"));
        assert!(
            files[0]
                .contents
                .contains("ocuroot release new api.ocu.star")
        );
        for bad in ["", "a/b", "repo", "environments.ocu.star", ".hidden", "x y"] {
            assert!(release_files(dir, root, bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn templates_have_no_unfilled_markers() {
        let opts = CiOptions {
            source_branch: "main".into(),
            intent_branch: "intent".into(),
            install_url: "https://example.com/ocuroot.git".into(),
        };
        let root = Path::new("/r");
        let mut all = repo_files(root, "acme/app").expect("repo");
        all.extend(release_files(root, root, "release").expect("release"));
        all.extend(ci_files(root, CiPlatform::GithubActions, &opts).expect("github"));
        all.extend(ci_files(root, CiPlatform::Gitlab, &opts).expect("gitlab"));
        for f in all {
            for marker in MARKERS {
                assert!(
                    !f.contents.contains(marker),
                    "{} still holds {marker}",
                    f.path.display()
                );
            }
        }
    }

    #[test]
    fn bad_branches_are_refused() {
        let opts = CiOptions {
            source_branch: "main; rm".into(),
            intent_branch: "intent".into(),
            install_url: String::new(),
        };
        let err = ci_files(Path::new("/r"), CiPlatform::Gitlab, &opts).expect_err("refused");
        assert!(matches!(err, InitError::InvalidBranch { .. }), "{err}");
    }

    #[test]
    fn planning_refuses_keeps_and_forces() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let existing = tmp.path().join("a");
        std::fs::write(&existing, "x").expect("write");
        let file = |path: &Path, if_exists| InitFile {
            path: path.to_path_buf(),
            contents: String::new(),
            if_exists,
        };
        let new = tmp.path().join("b");
        let err = plan_writes(
            vec![
                file(&new, IfExists::Refuse),
                file(&existing, IfExists::Refuse),
            ],
            false,
        )
        .expect_err("exists");
        assert!(matches!(err, InitError::Exists { .. }), "{err}");
        let plan = plan_writes(
            vec![
                file(&new, IfExists::Refuse),
                file(&existing, IfExists::Keep),
            ],
            false,
        )
        .expect("plan");
        assert_eq!(plan[0].1, Action::Create);
        assert_eq!(plan[1].1, Action::Keep);
        let plan = plan_writes(vec![file(&existing, IfExists::Refuse)], true).expect("plan");
        assert_eq!(plan[0].1, Action::Overwrite);
    }
}
