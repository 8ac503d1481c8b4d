//! The input document and the small closed vocabularies of analysis output.

use serde::{Deserialize, Serialize};

/// One post to analyse, as it arrives (JSON lines: `id`, `title`, `body`, `url`, `source`,
/// `published_at`; unknown fields are ignored). A title with an empty body is valid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Echoed as given; numbers are accepted and turned into strings.
    #[serde(default, deserialize_with = "id_as_string")]
    pub id: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub title: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub body: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub published_at: Option<String>,
}

impl Document {
    pub fn text(&self, field: Field) -> &str {
        match field {
            Field::Title => &self.title,
            Field::Body => &self.body,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.title.trim().is_empty() && self.body.trim().is_empty()
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn id_as_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        S(String),
        I(i64),
        U(u64),
        F(f64),
    }
    Ok(match Option::<Id>::deserialize(d)? {
        None => String::new(),
        Some(Id::S(s)) => s,
        Some(Id::I(i)) => i.to_string(),
        Some(Id::U(u)) => u.to_string(),
        Some(Id::F(f)) => f.to_string(),
    })
}

/// Which field of a document a match was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    Title,
    Body,
}

impl Field {
    pub const ALL: [Field; 2] = [Field::Title, Field::Body];
}

/// Detected language of a post. It describes the text, never the writer, and never raises heat,
/// risk or level (PRODUCT.md §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lang {
    /// Chinese (Han script).
    #[serde(rename = "zh")]
    Chinese,
    /// Uyghur (Arabic script or Latin ULY).
    #[serde(rename = "ug")]
    Uyghur,
    /// Kazakh (Arabic script or Cyrillic).
    #[serde(rename = "kk")]
    Kazakh,
    #[serde(rename = "ru")]
    Russian,
    #[serde(rename = "ar")]
    Arabic,
    #[serde(rename = "en")]
    English,
    /// Undetermined: too little text, or a script we do not tell apart.
    #[serde(rename = "und")]
    Undetermined,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Chinese => "zh",
            Lang::Uyghur => "ug",
            Lang::Kazakh => "kk",
            Lang::Russian => "ru",
            Lang::Arabic => "ar",
            Lang::English => "en",
            Lang::Undetermined => "und",
        }
    }
}

/// Coarse sentiment label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentimentLabel {
    Negative,
    Neutral,
    Positive,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_accept_numeric_ids_null_fields_and_unknown_keys() {
        let d: Document =
            serde_json::from_str(r#"{"id": 42, "title": "停水", "body": null, "likes": 3}"#).unwrap();
        assert_eq!(d.id, "42");
        assert_eq!(d.title, "停水");
        assert_eq!(d.body, "");
        assert!(!d.is_empty());
    }
}
