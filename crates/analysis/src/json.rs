//! The JSON line of an [`Analysis`], written by hand: the same document as its derived
//! `Serialize` (a test compares them on every fixture post), at a fraction of the cost. With
//! thousands of topics a post carries dozens of evidence records, and through serde every one of
//! them escapes its five keys again; here keys are literals, and strings are copied as they are
//! unless they need escaping. Small enums and floats still go through serde_json, so their
//! spelling and number formatting are exactly serde's.

use serde::Serialize;

use crate::{Analysis, EvidenceOut};

/// Appends `s` as a JSON string.
fn string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        // Rare: let serde_json escape it (writing to a Vec cannot fail).
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Appends a value through serde_json (floats, small enums).
fn value<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    let _ = serde_json::to_writer(&mut *out, v);
}

fn uint(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn list<T>(out: &mut Vec<u8>, items: &[T], mut each: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(out, x);
    }
    out.push(b']');
}

fn evidence(out: &mut Vec<u8>, e: &EvidenceOut<'_>) {
    out.extend_from_slice(b"{\"word\":");
    string(out, e.word);
    out.extend_from_slice(match e.field {
        yuqing_domain::Field::Title => b",\"field\":\"title\",\"start\":",
        yuqing_domain::Field::Body => b",\"field\":\"body\",\"start\":",
    });
    uint(out, e.start as u64);
    out.extend_from_slice(b",\"end\":");
    uint(out, e.end as u64);
    if e.count != 1 {
        out.extend_from_slice(b",\"count\":");
        uint(out, u64::from(e.count));
    }
    out.push(b'}');
}

impl Analysis<'_> {
    /// Appends this analysis as one JSON object (no newline).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        string(out, &self.id);
        out.extend_from_slice(b",\"lang\":");
        value(out, &self.lang);
        out.extend_from_slice(b",\"keywords\":");
        list(out, &self.keywords, |out, k| {
            out.extend_from_slice(b"{\"word\":");
            string(out, &k.word);
            out.extend_from_slice(b",\"weight\":");
            value(out, &k.weight);
            out.push(b'}');
        });
        out.extend_from_slice(b",\"departments\":");
        list(out, &self.departments, |out, d| {
            out.extend_from_slice(b"{\"id\":");
            string(out, d.id);
            out.extend_from_slice(b",\"name\":");
            string(out, d.name);
            out.extend_from_slice(b",\"score\":");
            value(out, &d.score);
            out.extend_from_slice(b",\"via\":");
            value(out, &d.via);
            out.extend_from_slice(b",\"role\":");
            value(out, &d.role);
            if let Some(c) = d.model_confidence {
                out.extend_from_slice(b",\"model_confidence\":");
                value(out, &c);
            }
            out.extend_from_slice(b",\"topics\":");
            list(out, &d.topics, |out, t| {
                out.extend_from_slice(b"{\"id\":");
                string(out, t.id);
                out.extend_from_slice(b",\"name\":");
                string(out, t.name);
                out.extend_from_slice(b",\"evidence\":");
                list(out, &t.evidence, evidence);
                out.push(b'}');
            });
            out.push(b'}');
        });
        out.extend_from_slice(b",\"sentiment\":");
        value(out, &self.sentiment);
        out.extend_from_slice(b",\"risk\":");
        value(out, &self.risk);
        out.extend_from_slice(b",\"places\":");
        value(out, &self.places);
        out.extend_from_slice(if self.local {
            b",\"local\":true,\"simhash\":"
        } else {
            b",\"local\":false,\"simhash\":"
        });
        string(out, &self.simhash);
        out.push(b'}');
    }
}
