//! The README's generated tables must match the code they describe.

#[test]
fn readme_lists_every_siproxd_option_with_its_status() {
    let table = sipnat::config::options::options_markdown();
    let readme = std::fs::read_to_string("README.md").unwrap();
    assert!(
        readme.contains(&table),
        "README.md must contain the options table exactly (between the options markers):\n{table}"
    );
}
