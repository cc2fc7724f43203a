//! What the compiler says when a fallback answers with a type other than the inner
//! service's response: the rule, in the `diagnostic::on_unimplemented` message of
//! `fallback::Handler`. (One case: trybuild compiles the crate again.)

#[test]
fn a_fallback_of_the_wrong_response_type_is_explained() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
