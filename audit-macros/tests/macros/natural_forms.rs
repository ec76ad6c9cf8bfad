//! Options written the way a handler's types suggest: fields of fields that are not `Copy`,
//! method calls and `format!`, over the success value and over the arguments alike.

use audit_core::testing::capture;
use audit_core::{Actor, Outcome, audited};

/// Deliberately neither `Clone` nor `Copy`, like a real response body.
#[derive(Debug)]
struct Article {
    slug: String,
    author: Profile,
}

#[derive(Debug)]
struct Profile {
    username: String,
}

#[derive(Debug)]
struct ArticleBody {
    article: Article,
}

#[derive(Debug)]
struct NewComment {
    article: Article,
    body: String,
}

#[derive(Debug)]
struct Conflict;

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("conflict")
    }
}

fn article(slug: &str) -> ArticleBody {
    ArticleBody {
        article: Article {
            slug: slug.to_owned(),
            author: Profile {
                username: "jake".to_owned(),
            },
        },
    }
}

#[audited("ARTICLE_CREATED", entity_type = "article", entity_id = |res| res.article.slug)]
fn create_article(slug: &str) -> Result<ArticleBody, Conflict> {
    Ok(article(slug))
}

#[test]
fn a_non_copy_field_of_a_field_of_the_success_value_is_the_entity_id() {
    let (_, captured) = capture(|| create_article("how-to-train-your-dragon"));
    assert_eq!(
        captured.single().entity_id.as_deref(),
        Some("how-to-train-your-dragon")
    );
}

#[audited("ARTICLE_CREATED", entity_id = |res| res.article.slug.to_uppercase())]
fn create_article_by_method(slug: &str) -> Result<ArticleBody, Conflict> {
    Ok(article(slug))
}

#[test]
fn a_method_call_on_the_success_value_is_the_entity_id() {
    let (_, captured) = capture(|| create_article_by_method("dragons"));
    assert_eq!(captured.single().entity_id.as_deref(), Some("DRAGONS"));
}

#[audited(
    "ARTICLE_CREATED",
    entity_id = |res| format!("{}/{}", res.article.author.username, res.article.slug)
)]
fn create_article_by_format(slug: &str) -> Result<ArticleBody, Conflict> {
    Ok(article(slug))
}

#[test]
fn a_format_over_the_success_value_is_the_entity_id() {
    let (_, captured) = capture(|| create_article_by_format("dragons"));
    assert_eq!(captured.single().entity_id.as_deref(), Some("jake/dragons"));
}

#[audited("ARTICLE_CREATED", entity_id = |ArticleBody { article }| article.slug)]
fn create_article_by_pattern(slug: &str) -> Result<ArticleBody, Conflict> {
    Ok(article(slug))
}

#[test]
fn a_destructuring_closure_parameter_binds_by_reference() {
    let (_, captured) = capture(|| create_article_by_pattern("dragons"));
    assert_eq!(captured.single().entity_id.as_deref(), Some("dragons"));
}

#[audited("ARTICLE_CREATED", entity_id = |res: &ArticleBody| -> &str { &res.article.slug })]
fn create_article_typed(slug: &str) -> Result<ArticleBody, Conflict> {
    Ok(article(slug))
}

#[test]
fn a_typed_closure_parameter_and_return_type_are_honoured() {
    let (_, captured) = capture(|| create_article_typed("typed"));
    assert_eq!(captured.single().entity_id.as_deref(), Some("typed"));
}

#[audited(
    "COMMENT_ADDED",
    entity_type = "article",
    entity_id = req.article.slug,
    actor = req.article.author.username.as_str(),
    metadata(author = req.article.author.username, length = req.body.len())
)]
fn add_comment(req: NewComment) -> Result<usize, Conflict> {
    let NewComment { article, body } = req;
    drop(article);
    Ok(body.len())
}

#[test]
fn fields_of_fields_and_method_calls_over_a_moved_argument_fill_every_option() {
    let req = NewComment {
        article: article("dragons").article,
        body: "nice".to_owned(),
    };
    let (_, captured) = capture(|| add_comment(req));
    let event = captured.single();
    assert_eq!(event.entity_id.as_deref(), Some("dragons"));
    assert_eq!(event.actor, Some(Actor::user("jake")));
    assert_eq!(event.metadata["author"], "jake");
    assert_eq!(event.metadata["length"], 4);
}

#[audited(
    "COMMENT_ADDED",
    entity_id = format!("{}#{}", req.article.slug, req.body.len()),
    actor = Actor::user(format!("user:{}", req.article.author.username)),
    metadata(label = format!("on {}", req.article.slug))
)]
fn add_comment_by_format(req: NewComment) -> Result<(), Conflict> {
    drop(req);
    Err(Conflict)
}

#[test]
fn format_over_the_arguments_fills_every_option_even_when_the_call_fails() {
    let req = NewComment {
        article: article("dragons").article,
        body: "abc".to_owned(),
    };
    let (_, captured) = capture(|| add_comment_by_format(req));
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Failure);
    assert_eq!(event.entity_id.as_deref(), Some("dragons#3"));
    assert_eq!(event.actor, Some(Actor::user("user:jake")));
    assert_eq!(event.metadata["label"], "on dragons");
}

#[audited(
    "ARTICLE_CREATED",
    metadata(slug = |res| res.article.slug, author = |res| res.article.author.username.len())
)]
fn create_article_with_result_metadata(slug: &str) -> Result<ArticleBody, Conflict> {
    if slug.is_empty() {
        return Err(Conflict);
    }
    Ok(article(slug))
}

#[test]
fn metadata_closures_read_the_success_value() {
    let (_, captured) = capture(|| create_article_with_result_metadata("dragons"));
    let metadata = &captured.single().metadata;
    assert_eq!(metadata["slug"], "dragons");
    assert_eq!(metadata["author"], 4);
}

#[test]
fn metadata_closures_are_left_out_when_the_call_fails() {
    let (_, captured) = capture(|| create_article_with_result_metadata(""));
    let event = captured.single();
    assert_eq!(event.outcome, Outcome::Failure);
    assert!(event.metadata.get("slug").is_none());
}

#[audited("ARTICLE_CREATED", entity_id = |res| res.article.slug)]
async fn create_article_async(slug: String) -> Result<ArticleBody, Conflict> {
    tokio::task::yield_now().await;
    Ok(article(&slug))
}

#[tokio::test]
async fn the_natural_closure_works_on_an_async_fn() {
    let (_, captured) =
        audit_core::testing::capture_async(create_article_async("async".into())).await;
    assert_eq!(captured.single().entity_id.as_deref(), Some("async"));
}
