//! The documentation matches the repository: the README's function table names every function
//! of `infra/template.yaml` with its triggers and every variable the template gives it, and no
//! README or `docs/` link points at a file outside the repository (or at one that is missing).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One function of the template.
#[derive(Debug, Default)]
struct Function {
    variables: BTreeSet<String>,
    /// HTTP paths, SQS queue names (`wms-events`) and scheduled jobs (`reconcile`).
    triggers: BTreeSet<String>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// `WmsEventsQueue` → `wms-events`.
fn queue_name(logical_id: &str) -> String {
    let stem = logical_id.trim_end_matches("Queue");
    let mut name = String::new();
    for (i, c) in stem.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('-');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// The template's functions by binary name, read line by line (the template's own layout:
/// two-space indents, one resource per `  Name:` line).
fn template_functions() -> BTreeMap<String, Function> {
    let text = std::fs::read_to_string(root().join("infra/template.yaml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Globals: Function: Environment: Variables (every function has them).
    let mut globals = BTreeSet::new();
    let mut in_globals = false;
    let mut resources = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if indent(line) == 0 && !line.trim().is_empty() {
            in_globals = line.starts_with("Globals:");
        }
        if in_globals && indent(line) == 8 && line.trim_end().ends_with(':') {
            continue;
        }
        if in_globals && indent(line) == 8 && !line.trim_start().starts_with('#') {
            if let Some((key, _)) = line.trim().split_once(':') {
                globals.insert(key.to_owned());
            }
        }
        if indent(line) == 2
            && lines
                .get(i + 1)
                .is_some_and(|n| n.trim() == "Type: AWS::Serverless::Function")
        {
            resources.push(i);
        }
    }
    let mut functions = BTreeMap::new();
    for start in resources {
        let end = (start + 1..lines.len())
            .find(|&j| indent(lines[j]) <= 2 && !lines[j].trim().is_empty())
            .unwrap_or(lines.len());
        let body = &lines[start + 1..end];
        let binary = body
            .iter()
            .find_map(|l| l.trim().strip_prefix("Binary: "))
            .unwrap_or_else(|| panic!("{} has no Binary", lines[start].trim()))
            .to_owned();
        let mut function = Function {
            variables: globals.clone(),
            ..Default::default()
        };
        let mut section = "";
        for line in body {
            let trimmed = line.trim();
            if trimmed.starts_with('#') || trimmed.is_empty() {
                continue;
            }
            if indent(line) == 6 {
                section = trimmed.trim_end_matches(':');
                continue;
            }
            match section {
                "Environment" if indent(line) == 10 => {
                    if let Some((key, _)) = trimmed.split_once(':') {
                        function.variables.insert(key.to_owned());
                    }
                }
                "Events" => {
                    if let Some(path) = trimmed.strip_prefix("Path: ") {
                        function.triggers.insert(path.to_owned());
                    } else if let Some(queue) = trimmed.strip_prefix("Queue: !GetAtt ") {
                        function
                            .triggers
                            .insert(queue_name(queue.trim_end_matches(".Arn")));
                    } else if let Some(input) = trimmed.strip_prefix("Input: ") {
                        let input: serde_json::Value =
                            serde_json::from_str(input.trim_matches('\'')).unwrap();
                        function
                            .triggers
                            .insert(input["job"].as_str().unwrap().to_owned());
                    }
                }
                _ => {}
            }
        }
        functions.insert(binary, function);
    }
    functions
}

/// The README's function table: `function → (trigger cell, variables cell)`.
fn readme_table() -> BTreeMap<String, (String, String)> {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut rows = BTreeMap::new();
    let mut in_table = false;
    for line in text.lines() {
        if line.starts_with("| function | trigger | variables |") {
            in_table = true;
            continue;
        }
        if !in_table || line.starts_with("|---") {
            continue;
        }
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
        assert_eq!(cells.len(), 3, "a row of three cells: {line}");
        rows.insert(
            cells[0].trim().trim_matches('`').to_owned(),
            (cells[1].to_owned(), cells[2].to_owned()),
        );
    }
    rows
}

/// The `UPPER_CASE` names in backticks in a cell.
fn variables_in(cell: &str) -> BTreeSet<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

/// GIVEN the template and the README WHEN the README's function table is read THEN it has one
/// row per function, each row names every trigger (HTTP path, SQS queue, scheduled job) and
/// every variable the template sets for that function (the per-channel app secret ids as
/// `{CHANNEL}_APP_SECRET_ID`), and names no variable the template does not set.
#[test]
fn the_readme_function_table_matches_the_template() {
    let template = template_functions();
    assert!(template.len() >= 7, "{template:?}");
    let readme = readme_table();
    assert_eq!(
        readme.keys().collect::<Vec<_>>(),
        template.keys().collect::<Vec<_>>(),
        "the README's function table lists exactly the template's functions"
    );
    for (name, function) in &template {
        let (triggers, variables) = &readme[name];
        for trigger in &function.triggers {
            assert!(
                triggers.contains(trigger.as_str()),
                "README, {name}: the trigger cell does not name {trigger}"
            );
        }
        let named = variables_in(variables);
        for variable in &function.variables {
            let per_channel_app = variable.ends_with("_APP_SECRET_ID");
            let covered = named.contains(variable)
                || (per_channel_app && variables.contains("{CHANNEL}_APP_SECRET_ID"));
            assert!(
                covered || variable == "RUST_LOG",
                "README, {name}: {variable} is missing from the variables cell"
            );
        }
        for variable in &named {
            assert!(
                function.variables.contains(variable),
                "README, {name}: {variable} is not a variable the template sets"
            );
        }
    }
}

/// Every relative link of `text` (`[x](target)`), without its `#fragment`.
fn relative_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].trim();
        let target = target.split('#').next().unwrap_or_default();
        if !target.is_empty() && !target.contains("://") && !target.starts_with("mailto:") {
            links.push(target.to_owned());
        }
        rest = &rest[end..];
    }
    links
}

/// GIVEN the README and every page of `docs/` WHEN their links are read THEN each relative link
/// names a file inside the repository that exists (no absolute paths, no `file:` links, no
/// `../` out of the repository).
#[test]
fn documentation_links_stay_inside_the_repository() {
    let root = root().canonicalize().unwrap();
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let mut checked = 0;
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        assert!(
            !text.contains("](file:") && !text.contains("](/"),
            "{}: an absolute link",
            page.display()
        );
        for link in relative_links(&text) {
            let target = page.parent().unwrap().join(&link);
            let resolved = target
                .canonicalize()
                .unwrap_or_else(|_| panic!("{}: {link} does not exist", page.display()));
            assert!(
                resolved.starts_with(&root),
                "{}: {link} is outside the repository",
                page.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "the README links its docs");
}

#[test]
fn the_link_reader_finds_relative_links_only() {
    assert_eq!(
        relative_links("see [a](docs/a.md#x), [b](https://x.example/y) and [c](../c.md)."),
        ["docs/a.md", "../c.md"]
    );
    assert_eq!(queue_name("WmsEventsQueue"), "wms-events");
}
