//! Property tests: normalisation is idempotent and maps back; SimHash behaves as a distance.

use proptest::prelude::*;
use yuqing_text::{hamming, normalize, simhash};

fn features(text: &str) -> Vec<(String, f32)> {
    // Character bigrams of the normalised text stand in for words here.
    let chars: Vec<char> = normalize(text).as_str().chars().filter(|c| !c.is_whitespace()).collect();
    chars.windows(2).map(|w| (w.iter().collect::<String>(), 1.0)).collect()
}

fn hash(text: &str) -> u64 {
    let f = features(text);
    simhash(f.iter().map(|(w, x)| (w.as_str(), *x)))
}

/// Text built from Han (traditional and simplified), full-width, Arabic-script, Cyrillic, markup
/// and whitespace pieces.
fn mixed() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[新源縣县醫医院停水物業业小區区]{1,4}",
            "[ａ-ｚＡ-Ｚ０-９]{1,3}",
            "[a-zA-Z0-9]{1,4}",
            "[ئۆيسۇقكىﻻﺏـیک]{1,4}",
            "[Қазақтілі]{1,4}",
            "[#@/ 　\t\n，。！]{1,2}",
            any::<char>().prop_map(|c| c.to_string()),
        ],
        0..12,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn normalisation_is_idempotent(s in mixed()) {
        let once = normalize(&s).into_string();
        prop_assert_eq!(normalize(&once).into_string(), once);
    }

    #[test]
    fn every_normalised_char_maps_inside_the_original(s in mixed()) {
        let n = normalize(&s);
        let len = s.chars().count();
        for (i, _) in n.as_str().char_indices() {
            let (a, b) = n.original_span(i, i + n.as_str()[i..].chars().next().map_or(0, char::len_utf8));
            prop_assert!(a <= b && b <= len);
        }
    }

    #[test]
    fn simhash_is_symmetric_and_zero_on_identical_normalised_text(a in mixed(), b in mixed()) {
        prop_assert_eq!(hamming(hash(&a), hash(&b)), hamming(hash(&b), hash(&a)));
        prop_assert_eq!(hamming(hash(&a), hash(&normalize(&a).into_string())), 0);
    }

    #[test]
    fn simhash_is_small_under_whitespace_and_width_changes(s in "[新源县医院停水物业小区那拉提镇草场补贴]{12,40}") {
        // Insert spaces between characters and widen the digits: normalisation undoes both.
        let spaced: String = s.chars().flat_map(|c| [c, ' ']).collect::<String>() + "１２３";
        let plain = s.clone() + "123";
        prop_assert!(hamming(hash(&plain), hash(&spaced)) <= 3);
    }
}
