//! Credentials out of text, so that a remote's token never reaches state, logs or error
//! messages: [`redact_url`] removes the user part of a URL that is kept (recorded remotes,
//! clone sources); [`redact`] masks every URL's user part and query string in free text
//! (git's arguments and output, error messages).

use std::sync::LazyLock;

/// Removes credentials from a URL so they never reach state or logs, keeping it usable for
/// cloning: for `http(s)://` the whole user part goes (it is a token or `user:token`); for
/// other schemes only a password (`ssh://git:pw@host` -> `ssh://git@host`: the user name
/// is part of the address, as `git@` is for GitHub). A password containing an unencoded `@`
/// is removed whole (the last `@` of the authority ends the user part).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        return format!("{scheme}://{host}{path}");
    }
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}@{host}{path}"),
        None => url.to_string(),
    }
}

/// Returns `text` with any `user:password@` (or `token@`) part of a URL replaced by `***@`
/// and any query string (`?token=…`) by `?***`.
pub fn redact(text: &str) -> String {
    static USERINFO: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"://[^/@\s']+@").expect("valid regex"));
    static QUERY: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"(://[^\s'?]*)\?[^\s'#]*").expect("valid regex"));
    let text = USERINFO.replace_all(text, "://***@");
    QUERY.replace_all(&text, "$1?***").into_owned()
}

#[cfg(test)]
mod tests {
    use super::{redact, redact_url};

    #[test]
    fn redacts_credentials() {
        assert_eq!(
            redact("https://user:s3cret@example.com/org/repo.git"),
            "https://***@example.com/org/repo.git"
        );
        assert_eq!(
            redact("fatal: unable to access 'https://tok@example.com/x/': 403"),
            "fatal: unable to access 'https://***@example.com/x/': 403"
        );
        assert_eq!(redact("/plain/path.git"), "/plain/path.git");
        assert_eq!(redact("git://127.0.0.1:9/x"), "git://127.0.0.1:9/x");
        // See: issue 12 ("a token in a URL's query string appears in errors").
        assert_eq!(
            redact("fatal: 'https://host/r.git?token=t0ps3cret' not found"),
            "fatal: 'https://host/r.git?***' not found"
        );
    }

    #[test]
    fn credentials_are_removed() {
        assert_eq!(
            redact_url("https://user:token@github.com/a/b.git"),
            "https://github.com/a/b.git"
        );
        assert_eq!(
            redact_url("https://github.com/a/b.git"),
            "https://github.com/a/b.git"
        );
        assert_eq!(
            redact_url("git@github.com:a/b.git"),
            "git@github.com:a/b.git"
        );
        // The ssh user is part of the address, not a secret; a password is.
        assert_eq!(redact_url("ssh://git@host/x"), "ssh://git@host/x");
        assert_eq!(redact_url("ssh://git:pw@host/x"), "ssh://git@host/x");
        assert_eq!(
            redact_url("https://x-access-token:p@ss@github.com/a/b"),
            "https://github.com/a/b"
        );
        assert_eq!(redact_url("https://tok@host"), "https://host");
        assert_eq!(
            redact_url("file:///srv/a@b/repo.git"),
            "file:///srv/a@b/repo.git"
        );
    }
}
