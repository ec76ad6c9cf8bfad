//! The forms a handler's types suggest compile: a non-`Copy` field of a field of the success
//! value, a method call and `format!` (no `&` or `.clone()` needed), and closures over the
//! error for the outcome and reason.
use audit_core::testing::capture;
use audit_core::{Outcome, audited};

struct Profile {
    username: String,
}

struct Article {
    slug: String,
    author: Profile,
}

struct ArticleBody {
    article: Article,
}

enum ApiError {
    Forbidden,
    Invalid { field: String },
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("error in the request body")
    }
}

#[audited("ARTICLE_CREATED", entity_type = "article", entity_id = |res| res.article.slug)]
fn field_of_field() -> Result<ArticleBody, ApiError> {
    Ok(body())
}

#[audited("ARTICLE_CREATED", entity_id = |res| res.article.author.username.trim())]
fn method_call() -> Result<ArticleBody, ApiError> {
    Ok(body())
}

#[audited("ARTICLE_CREATED", entity_id = |res| format!("{}:{}", res.article.author.username, res.article.slug))]
fn formatted() -> Result<ArticleBody, ApiError> {
    Ok(body())
}

#[audited(
    "ARTICLE_UPDATED",
    entity_id = req.article.slug,
    actor = req.article.author.username,
    metadata(author = req.article.author.username, slug = |res| res.article.slug),
    outcome = |e| match e {
        ApiError::Forbidden => Outcome::Denied,
        ApiError::Invalid { .. } => Outcome::Failure,
    },
    reason = |e| match e {
        ApiError::Forbidden => "not the author".to_owned(),
        ApiError::Invalid { field } => format!("invalid {field}"),
    }
)]
fn over_arguments(req: ArticleBody) -> Result<ArticleBody, ApiError> {
    Ok(req)
}

fn body() -> ArticleBody {
    ArticleBody {
        article: Article {
            slug: "dragons".into(),
            author: Profile {
                username: "jake".into(),
            },
        },
    }
}

fn main() {
    let (_, captured) = capture(|| {
        let _ = field_of_field();
        let _ = method_call();
        let _ = formatted();
        let _ = over_arguments(body());
    });
    let ids: Vec<_> = captured.events().iter().map(|e| e.entity_id.clone()).collect();
    assert_eq!(
        ids,
        [
            Some("dragons".to_owned()),
            Some("jake".to_owned()),
            Some("jake:dragons".to_owned()),
            Some("dragons".to_owned()),
        ]
    );
}
