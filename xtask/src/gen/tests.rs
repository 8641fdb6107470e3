//! The recipe table is safe to render into a Makefile, and every output
//! carries the generated-file header.

use super::*;

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
            Kind::Section(_) => Comment::Html,
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
