//! What the page's files must never contain, checked on the files compiled in (the browser
//! tests in `local/tests/browser_integrations.rs` drive the page itself).

use super::*;

/// Every `<tag …>` opening of `html`, as its text up to `>`.
fn tags<'a>(html: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    html.match_indices(&open)
        .filter_map(|(at, _)| html[at..].find('>').map(|end| &html[at..at + end + 1]))
        .collect()
}

#[test]
fn the_page_has_no_inline_script_or_style_and_nothing_from_another_origin() {
    let scripts = tags(INDEX, "script");
    assert_eq!(scripts, ["<script src=\"/integrations/app.js\" defer>"]);
    assert!(
        INDEX.contains("<script src=\"/integrations/app.js\" defer></script>"),
        "the one script element is empty"
    );
    assert!(tags(INDEX, "style").is_empty(), "no <style> element");
    assert!(!INDEX.contains(" style="), "no style attribute");
    let lower = INDEX.to_ascii_lowercase();
    let handler = lower.match_indices(" on").any(|(at, _)| {
        let name: String = lower[at + 3..]
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        !name.is_empty() && lower[at + 3 + name.len()..].starts_with('=')
    });
    assert!(!handler, "no inline event handler");
    for text in [INDEX, SCRIPT, STYLE] {
        assert!(!text.contains("http://") && !text.contains("https://"));
        assert!(!text.contains("//cdn"), "nothing from a CDN");
    }
}

#[test]
fn the_script_never_writes_markup_and_keeps_the_token_out_of_urls_and_cookies() {
    for forbidden in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "localStorage",
        "document.cookie",
    ] {
        assert!(!SCRIPT.contains(forbidden), "app.js uses {forbidden}");
    }
    // The token is read from sessionStorage and sent only as the Authorization header.
    assert_eq!(
        SCRIPT.matches("sessionStorage.getItem(TOKEN_KEY)").count(),
        2
    );
    assert!(SCRIPT.contains("headers.Authorization = 'Bearer ' + token"));
    assert!(!SCRIPT.contains("?token") && !SCRIPT.contains("&token"));
}

#[test]
fn the_policy_allows_this_origin_only_and_nothing_inline() {
    assert!(CSP.contains("default-src 'none'"));
    assert!(CSP.contains("script-src 'self';"));
    assert!(CSP.contains("style-src 'self';"));
    assert!(!CSP.contains("unsafe"));
    assert!(CSP.contains("frame-ancestors 'none'"));
}

#[test]
fn only_loopback_hosts_are_offered_the_dev_token() {
    for host in [
        "127.0.0.1:3000",
        "localhost:3000",
        "127.0.0.1",
        "[::1]:3000",
    ] {
        assert!(loopback_host(host), "{host}");
    }
    for host in [
        "",
        "evil.example:3000",
        "127.0.0.1.evil.example",
        "localhost.evil.example:80",
        "10.0.0.1:3000",
        "127.0.0.1:3000:1",
    ] {
        assert!(!loopback_host(host), "{host}");
    }
}
