//! Script and language detection of a post, from character statistics and a few marker letters.
//!
//! The result describes the text so that it can be segmented and matched correctly; it is never a
//! signal about the writer and never raises heat, risk or level (PRODUCT.md §10).

use yuqing_domain::Lang;

use crate::normalize::is_han;

#[derive(Debug, Default)]
struct Counts {
    han: usize,
    arabic: usize,
    cyrillic: usize,
    latin: usize,
    // markers
    ug_arabic: usize,
    turkic_arabic: usize,
    kk_arabic: usize,
    ar_arabic: usize,
    kk_cyrillic: usize,
    ug_latin: usize,
}

/// Detects the language of `text` (original or normalised).
pub fn detect(text: &str) -> Lang {
    let mut c = Counts::default();
    for ch in text.chars() {
        match ch as u32 {
            _ if is_han(ch) => c.han += 1,
            0x0600..=0x06FF | 0x0750..=0x077F | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => {
                if ch.is_alphabetic() {
                    c.arabic += 1;
                }
                match ch {
                    // ئ ې ۆ ۈ : Uyghur orthography
                    '\u{0626}' | '\u{06D0}' | '\u{06C6}' | '\u{06C8}' => c.ug_arabic += 1,
                    // ە ى ۇ ۋ ڭ ھ : letters of Turkic Arabic-script spelling, absent from Arabic
                    '\u{06D5}' | '\u{0649}' | '\u{06C7}' | '\u{06CB}' | '\u{06AD}' | '\u{06BE}' => {
                        c.turkic_arabic += 1
                    }
                    // ٴ ٵ ٶ ٷ ٸ : the Kazakh front-vowel hamza and its ligatures
                    '\u{0674}'..='\u{0678}' => c.kk_arabic += 1,
                    // ة أ إ ث ذ ض ظ : Arabic-language letters absent from Uyghur and Kazakh spelling
                    '\u{0629}' | '\u{0623}' | '\u{0625}' | '\u{062B}' | '\u{0630}' | '\u{0636}'
                    | '\u{0638}' => c.ar_arabic += 1,
                    _ => {}
                }
            }
            0x0400..=0x04FF => {
                c.cyrillic += 1;
                if matches!(
                    ch,
                    'ә' | 'ғ'
                        | 'қ'
                        | 'ң'
                        | 'ө'
                        | 'ұ'
                        | 'ү'
                        | 'һ'
                        | 'і'
                        | 'Ә'
                        | 'Ғ'
                        | 'Қ'
                        | 'Ң'
                        | 'Ө'
                        | 'Ұ'
                        | 'Ү'
                        | 'Һ'
                        | 'І'
                ) {
                    c.kk_cyrillic += 1;
                }
            }
            _ if ch.is_ascii_alphabetic() => c.latin += 1,
            0x00C0..=0x024F => {
                c.latin += 1;
                if matches!(ch, 'ë' | 'ö' | 'ü' | 'Ë' | 'Ö' | 'Ü') {
                    c.ug_latin += 1;
                }
            }
            _ => {}
        }
    }
    // A Han character carries about as much as a short alphabetic word.
    let han = c.han * 3;
    let best = han.max(c.arabic).max(c.cyrillic).max(c.latin);
    if best < 3 {
        return Lang::Undetermined;
    }
    if best == han {
        Lang::Chinese
    } else if best == c.arabic {
        // Kazakh marks front-vowel words with the hamza ٴ; Uyghur writes ئ ې ۆ ۈ instead. Turkic
        // text without either is taken for Uyghur, the county's more common Arabic-script language.
        if c.kk_arabic > c.ug_arabic {
            Lang::Kazakh
        } else if c.ug_arabic > 0 || c.turkic_arabic > c.ar_arabic {
            Lang::Uyghur
        } else if c.ar_arabic > 0 {
            Lang::Arabic
        } else {
            Lang::Undetermined
        }
    } else if best == c.cyrillic {
        if c.kk_cyrillic > 0 { Lang::Kazakh } else { Lang::Russian }
    } else {
        latin_language(text, c.ug_latin)
    }
}

const EN_WORDS: &[&str] = &[
    "the", "and", "of", "to", "in", "is", "for", "on", "with", "that", "this", "are", "was", "be", "by",
    "or", "as", "not", "have", "has", "at", "from", "an", "it", "all", "no", "shall", "their",
];
const ULY_ENDINGS: &[&str] = &["liq", "lik", "ning", "lar", "ler", "gha", "ghan", "diki", "ni", "ghu"];

fn latin_language(text: &str, ug_letters: usize) -> Lang {
    let mut words = 0usize;
    let mut en = 0usize;
    let mut uly = 0usize;
    for w in text.split(|c: char| !c.is_alphabetic()).filter(|w| !w.is_empty()) {
        words += 1;
        let lw = w.to_lowercase();
        if EN_WORDS.contains(&lw.as_str()) {
            en += 1;
        }
        // ULY spells قـ as q (English almost always writes qu) and غ as gh.
        let q_not_u = lw.as_bytes().windows(2).any(|w| w[0] == b'q' && w[1] != b'u') || lw.ends_with('q');
        if ULY_ENDINGS.iter().any(|e| lw.len() > e.len() + 1 && lw.ends_with(e))
            || lw.contains("gh")
            || q_not_u
        {
            uly += 1;
        }
    }
    if words == 0 {
        return Lang::Undetermined;
    }
    if en * 8 >= words && en >= uly {
        Lang::English
    } else if ug_letters > 0 || uly * 6 >= words {
        Lang::Uyghur
    } else {
        Lang::Undetermined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_and_languages() {
        assert_eq!(detect("那拉提镇停水三天了"), Lang::Chinese);
        assert_eq!(detect("ئۆيىمىزدە سۇ يوق، ئۈچ كۈن بولدى"), Lang::Uyghur);
        assert_eq!(detect("Барлық адамдар тумысынан азат және қадір-қасиеті"), Lang::Kazakh);
        assert_eq!(detect("Все люди рождаются свободными"), Lang::Russian);
        assert_eq!(detect("All human beings are born free and equal in dignity"), Lang::English);
        assert_eq!(
            detect("Hemme insanlar tughulushidinla erkin, izzet-hörmet we hoquqta babbab"),
            Lang::Uyghur
        );
        assert_eq!(detect("ok"), Lang::Undetermined);
        // Chinese with a little English is Chinese.
        assert_eq!(detect("新源县 KTV 噪音扰民 please help"), Lang::Chinese);
    }
}
