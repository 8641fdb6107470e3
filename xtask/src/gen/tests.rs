//! The repository's generated files are up to date (so `cargo test` catches
//! drift), and the recipe table is safe to render into a Makefile.

use super::*;

#[test]
fn generated_files_are_up_to_date() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let config = crate::config::load(&root).unwrap();
    let inputs = Inputs::read(&root, &config).unwrap();
    let planned = write::plan(&root, &all(&config, &inputs)).unwrap();
    let (report, fresh) = write::check_report(&planned, false);
    assert!(fresh, "generated files are stale:\n{report}");
}

#[test]
fn recipes_render_safely_in_make_and_just() {
    for recipe in RECIPES {
        assert!(
            !recipe.about.contains(['\'', '$', '#', '\n']),
            "`{}`: its description would break `make help`",
            recipe.make
        );
        assert!(recipe.about.starts_with(char::is_uppercase));
        assert_eq!(recipe.task.is_none(), recipe.make == "help");
    }
}

#[test]
fn every_output_carries_the_header() {
    let config = Config::default();
    for output in all(&config, &Inputs::default()) {
        let comment = match output.kind {
            Kind::File(comment) => comment,
            Kind::Section { comment, .. } => comment,
        };
        assert_eq!(
            header::ownership(comment, &output.contents),
            header::Ownership::Generated,
            "{}",
            output.path
        );
        assert!(output.contents.ends_with('\n') && !output.contents.ends_with("\n\n"));
    }
}
