//! Tests of the analyzer on the shipped configuration and dictionaries, and on small configs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use yuqing_domain::{Document, Field};
use yuqing_text::normalize_term;

use crate::assign::Role;
use crate::{Analyzer, Dictionaries, config};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_dir(dir: &Path, ext: &str) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, ext: &str, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(root, &p, ext, out);
            } else if p.extension().is_some_and(|e| e == ext) {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, ext, &mut out);
    out
}

fn shipped_config() -> Vec<(String, String)> {
    read_dir(&root().join("config"), "toml")
}

fn analyzer() -> &'static Analyzer {
    static AN: OnceLock<Analyzer> = OnceLock::new();
    AN.get_or_init(|| {
        let files = shipped_config();
        let cfg = config::load(files.iter().map(|(p, t)| (p.as_str(), t.as_str()))).unwrap();
        let files = read_dir(&root().join("dictionaries"), "txt");
        let files: &'static [(String, String)] = Box::leak(files.into_boxed_slice());
        let dicts = Dictionaries::from_files(files).unwrap();
        Analyzer::new(&cfg, dicts).unwrap()
    })
}

fn post(title: &str, body: &str) -> Document {
    Document { id: "t".into(), title: title.into(), body: body.into(), ..Default::default() }
}

#[test]
fn every_shipped_config_file_parses() {
    let files = shipped_config();
    assert!(files.iter().any(|(p, _)| p == "departments.toml"));
    assert!(files.iter().filter(|(p, _)| p.starts_with("rules/")).count() >= 10);
    let cfg = config::load(files.iter().map(|(p, t)| (p.as_str(), t.as_str()))).unwrap();
    // The departments the evaluation compares by name are spelled as its label map spells them.
    for name in [
        "住房和城乡建设局",
        "人力资源和社会保障局",
        "生态环境局",
        "卫生健康委员会",
        "市场监督管理局",
        "交通运输局",
        "教育局",
    ] {
        assert!(cfg.units.iter().any(|u| u.name == name), "{name} missing");
    }
    // XPCC regiments are another jurisdiction, not county townships.
    let regiments: Vec<_> =
        cfg.townships.iter().filter(|t| t.kind == yuqing_domain::TownshipKind::Regiment).collect();
    assert_eq!(regiments.len(), 2);
    assert!(regiments.iter().all(|t| t.jurisdiction == yuqing_domain::Jurisdiction::Xpcc));
}

#[test]
fn a_post_naming_no_county_place_is_still_assigned() {
    let a = analyzer().analyze(&post("小区物业乱收费", "物业公司每月多收物业费，业委会也不管。"), None);
    assert!(!a.local);
    assert_eq!(a.departments.first().map(|d| d.name), Some("住房和城乡建设局"));
}

#[test]
fn evidence_offsets_point_at_the_original_text() {
    let title = "【求助】那拉提镇小區物業亂收費！！";
    let body = "＃新源縣＃ 物業公司 每月多收物業費，業委會不管。//@某人: 同問";
    let a = analyzer().analyze(&post(title, body), None);
    let mut checked = 0;
    for d in &a.departments {
        for t in &d.topics {
            for e in &t.evidence {
                let text = if e.field == Field::Title { title } else { body };
                let slice: String = text.chars().skip(e.start).take(e.end - e.start).collect();
                assert_eq!(normalize_term(&slice), normalize_term(e.word), "{e:?}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 3, "only {checked} evidence items");
}

#[test]
fn generic_words_alone_assign_no_township() {
    let a = analyzer().analyze(&post("", "我们社区居委会和街道办都说不归他们管。"), None);
    assert!(
        a.departments.iter().all(|d| d.role != Role::Territorial && d.role != Role::Conduct),
        "{:?}",
        a.departments
    );
}

#[test]
fn township_is_a_territorial_co_owner_after_the_functional_department() {
    let a = analyzer().analyze(&post("那拉提镇小区停暖", "那拉提镇某小区暖气不热，供暖公司不管。"), None);
    let roles: Vec<_> = a.departments.iter().map(|d| (d.name, d.role)).collect();
    let first_territorial = roles.iter().position(|r| r.1 == Role::Territorial).expect("township listed");
    assert!(first_territorial > 0, "{roles:?}");
    assert_eq!(roles[first_territorial].0, "那拉提镇人民政府");
}

#[test]
fn township_government_leads_when_its_own_conduct_is_the_subject() {
    let a =
        analyzer().analyze(&post("那拉提镇干部推诿", "去那拉提镇政府办事，镇干部态度恶劣、互相推诿。"), None);
    let first = a.departments.first().expect("assigned");
    assert_eq!((first.name, first.role), ("那拉提镇人民政府", Role::Conduct));
}

#[test]
fn language_never_raises_risk() {
    let zh = analyzer().analyze(&post("", "那拉提镇停水三天了。"), None);
    let mixed = analyzer().analyze(&post("", "那拉提镇停水三天了。 ئۆيىمىزدە سۇ يوق، ئۈچ كۈن بولدى"), None);
    assert!(mixed.risk.score <= zh.risk.score + f32::EPSILON);
    assert_eq!(zh.lang, yuqing_domain::Lang::Chinese);
}

#[test]
fn risk_words_are_reported() {
    let a = analyzer().analyze(&post("", "工地发生坍塌事故，两人死亡。"), None);
    assert!(a.risk.score > 0.3, "{:?}", a.risk);
    assert!(a.risk.words.contains(&"死亡"));
}

// ---- rule semantics on a tiny configuration ----

const COUNTY: &str = r#"code = "654025"
name = "新源县"
short = ["新源"]
prefecture = "伊犁哈萨克自治州"
"#;
const GAZ: &str = r#"[[township]]
code = "654025104"
name = "那拉提镇"
short = ["那拉提"]
kind = "town"
jurisdiction = "county"
villages = ["阿克其村"]
"#;
const UNITS: &str = r#"[[unit]]
id = "water"
name = "水利局"
full_name = "新源县水利局"
kind = "department"
jurisdiction = "county"

[[unit]]
id = "housing"
name = "住房和城乡建设局"
full_name = "新源县住房和城乡建设局"
aliases = ["住建局"]
kind = "department"
jurisdiction = "county"
"#;
const TW: &str = "government_words = [\"镇政府\"]\nconduct_words = [\"推诿\"]\n";

fn tiny(rules: &str) -> Result<Analyzer, config::ConfigErrors> {
    let files = [
        ("county.toml", COUNTY),
        ("gazetteer.toml", GAZ),
        ("departments.toml", UNITS),
        ("townships.toml", TW),
        ("rules/water.toml", rules),
    ];
    let cfg = config::load(files)?;
    let d = Dictionaries { idf: "停水 5\n", ..Default::default() };
    Ok(Analyzer::new(&cfg, d).unwrap())
}

fn topics(an: &Analyzer, title: &str, body: &str) -> Vec<String> {
    let a = an.analyze(&post(title, body), None);
    a.departments.iter().flat_map(|d| d.topics.iter().map(|t| t.id.to_owned())).collect()
}

#[test]
fn groups_and_across_or_within_and_excludes_veto() {
    let an = tiny(
        "unit = \"water\"\n[[topic]]\nid = \"w.a\"\nname = \"a\"\nsubject = [\"水渠\", \"渠道\"]\nevent = [\"漏水\", \"垮塌\"]\nexclude = [\"演练\"]\n",
    )
    .unwrap();
    assert_eq!(topics(&an, "", "水渠漏水"), ["w.a"]);
    assert_eq!(topics(&an, "渠道", "垮塌了"), ["w.a"]);
    assert!(topics(&an, "", "水渠很好").is_empty());
    assert!(topics(&an, "", "水渠漏水演练").is_empty());
}

#[test]
fn expressions_near_scope_and_prefix() {
    let an = tiny(concat!(
        "unit = \"water\"\n",
        "[[topic]]\nid = \"w.near\"\nname = \"n\"\nexpr = '停水 NEAR/3 小区'\n",
        "[[topic]]\nid = \"w.title\"\nname = \"t\"\nexpr = 'title:水库 AND NOT body:\"防汛演练\"'\n",
        "[[topic]]\nid = \"w.ug\"\nname = \"u\"\nexpr = 'سۇ*'\n",
        "[[topic]]\nid = \"w.en\"\nname = \"e\"\nexpr = 'dam'\n",
    ))
    .unwrap();
    assert_eq!(topics(&an, "", "小区今天停水"), ["w.near"]);
    assert_eq!(topics(&an, "", "停水了，我们这个老小区"), Vec::<String>::new());
    assert_eq!(topics(&an, "水库", "水位很高"), ["w.title"]);
    assert!(topics(&an, "", "水库水位很高").is_empty());
    assert!(topics(&an, "水库", "举行防汛演练").is_empty());
    assert_eq!(topics(&an, "", "ئۆيدە سۇنىڭ يوق"), ["w.ug"]);
    assert!(topics(&an, "", "ئاسۇ").is_empty(), "prefix only at a word start");
    assert_eq!(topics(&an, "", "the DAM broke"), ["w.en"]);
    assert!(topics(&an, "", "amsterdam").is_empty(), "whole words only for alphabetic terms");
}

#[test]
fn naming_a_unit_assigns_it() {
    let an = tiny("unit = \"water\"\n").unwrap();
    let a = an.analyze(&post("", "住建局不回电话"), None);
    assert_eq!(a.departments[0].name, "住房和城乡建设局");
    assert_eq!(a.departments[0].topics[0].evidence[0].word, "住建局");
}

#[test]
fn bad_configurations_are_explained() {
    let cases = [
        ("unit = \"water\"\n[[topic]]\nid = \"w.a\"\nname = \"a\"\nsubjct = [\"x\"]\n", "unknown field"),
        (
            "unit = \"water\"\n[[topic]]\nid = \"w.a\"\nname = \"a\"\nexpr = '停水 小区'\n",
            "column 4: expected AND, OR or NEAR/n",
        ),
        ("unit = \"water\"\n[[topic]]\nid = \"w.a\"\nname = \"a\"\nexpr = 'NOT 演练'\n", "none of its words"),
        ("unit = \"water\"\n[[topic]]\nid = \"w.a\"\nname = \"a\"\n", "needs at least one"),
        ("unit = \"housing\"\n", "file is named after \"water\""),
        (
            "unit = \"water\"\n[[topic]]\nid = \"w.a\"\nname = \"a\"\nsubject=[\"a\"]\n[[topic]]\nid = \"w.a\"\nname = \"b\"\nsubject=[\"b\"]\n",
            "duplicate topic id",
        ),
    ];
    let mut report = String::new();
    for (rules, want) in cases {
        let err = match tiny(rules) {
            Ok(_) => panic!("{rules:?} must fail"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(want), "{err:?} lacks {want:?}");
        assert!(err.starts_with("rules/water.toml"), "{err}");
        report.push_str(&err);
        report.push('\n');
    }
    insta::assert_snapshot!(report);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn evidence_maps_back_for_any_surrounding_text(
        pre in "[ 　a-zA-Zａ-ｚ0-9０-９#@/，。的了是在小區]{0,12}",
        post_ in "[ 　a-zA-Z0-9#@/，。的了是在]{0,12}",
        word in prop::sample::select(vec!["物業費", "物业费", "ＰＭ２.５", "业委会"]),
    ) {
        let body = format!("{pre}{word}{post_}");
        let a = analyzer().analyze(&post("", &body), None);
        for d in &a.departments {
            for t in &d.topics {
                for e in &t.evidence {
                    let slice: String = body.chars().skip(e.start).take(e.end - e.start).collect();
                    prop_assert_eq!(normalize_term(&slice), normalize_term(e.word));
                }
            }
        }
    }
}

#[test]
fn near_needs_two_distinct_non_overlapping_occurrences() {
    let an = tiny(concat!(
        "unit = \"water\"\n",
        "[[topic]]\nid = \"w.self\"\nname = \"s\"\nexpr = '停水 NEAR/5 停水'\n",
        "[[topic]]\nid = \"w.overlap\"\nname = \"o\"\nexpr = '新源 NEAR/3 新源县'\n",
    ))
    .unwrap();
    assert!(topics(&an, "", "今天停水了").is_empty());
    assert_eq!(topics(&an, "", "停水，又停水"), ["w.self"]);
    assert!(topics(&an, "", "新源县的水").is_empty());
}

#[test]
fn near_on_a_very_long_post_reports_each_occurrence_once() {
    let an = tiny("unit = \"water\"\n[[topic]]\nid = \"w.n\"\nname = \"n\"\nexpr = '小区 NEAR/1000 物业'\n")
        .unwrap();
    let body = "小区物业".repeat(5000);
    let a = an.analyze(&post("", &body), None);
    let ev = &a.departments[0].topics[0].evidence;
    // First occurrence of each word in the body, with its count.
    assert_eq!(ev.len(), 2);
    assert!(ev.iter().all(|e| e.count == 5000), "{ev:?}");
}

#[test]
fn quoted_star_is_literal_and_numbers_match_whole() {
    let an = tiny(concat!(
        "unit = \"water\"\n",
        "[[topic]]\nid = \"w.star\"\nname = \"s\"\nexpr = '\"a*b\" OR \"pm2.5*\"'\n",
        "[[topic]]\nid = \"w.num\"\nname = \"n\"\nsubject = [\"110\"]\n",
    ))
    .unwrap();
    assert_eq!(topics(&an, "", "pm2.5* 超标"), ["w.star"]);
    assert!(topics(&an, "", "pm2.5超标").is_empty());
    assert_eq!(topics(&an, "", "打110报警"), ["w.num"]);
    assert!(topics(&an, "", "电话13911012345").is_empty());
}

#[test]
fn repeated_words_are_reported_once_per_field_with_a_count() {
    let an = tiny("unit = \"water\"\n[[topic]]\nid = \"w.a\"\nname = \"a\"\nsubject = [\"水渠\"]\n").unwrap();
    let a = an.analyze(&post("水渠", "水渠漏水，水渠垮了，水渠没人修"), None);
    let ev = &a.departments[0].topics[0].evidence;
    assert_eq!(
        ev.iter().map(|e| (e.field, e.count)).collect::<Vec<_>>(),
        [(Field::Title, 1), (Field::Body, 3)]
    );
}

#[test]
fn reserved_topic_ids_are_refused() {
    let err = tiny("unit = \"water\"\n[[topic]]\nid = \"water.named\"\nname = \"x\"\nsubject = [\"水\"]\n")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("reserved"), "{err}");
}

#[test]
fn the_model_reorders_only_where_the_policy_lets_it() {
    use crate::router::{Features, RouterModel, TrainOptions};
    let an = tiny("unit = \"water\"\n").unwrap();
    let ex = |words: &[&str], label: &str| {
        (Features { words: words.iter().map(|w| w.to_string()).collect(), rules: vec![] }, label.to_owned())
    };
    let mut data = Vec::new();
    for _ in 0..8 {
        data.push(ex(&["水库", "灌溉"], "水利局"));
        data.push(ex(&["物业", "楼盘"], "住房和城乡建设局"));
    }
    let model = RouterModel::train(&data, None, TrainOptions::default()).unwrap();

    // Named outright: strong rule evidence decides; the model may only add its suggestion after.
    let a = an.analyze(&post("", "住建局 水库 灌溉"), Some(&model));
    assert_eq!((a.departments[0].name, a.departments[0].via), ("住房和城乡建设局", crate::Via::Rule));
    assert!(a.departments[0].model_confidence.is_some());
    assert!(a.departments.iter().skip(1).any(|d| d.name == "水利局" && d.via == crate::Via::Model));

    // No rule fired: the model's department is proposed, marked as such.
    let a = an.analyze(&post("", "水库 灌溉"), Some(&model));
    assert_eq!((a.departments[0].name, a.departments[0].via), ("水利局", crate::Via::Model));
    // Without a model nothing is proposed.
    assert!(an.analyze(&post("", "水库 灌溉"), None).departments.is_empty());
}

#[test]
fn hand_written_json_is_the_serde_document_byte_for_byte() {
    let an = analyzer();
    let posts =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../app/tests/fixtures/posts.jsonl"))
            .unwrap();
    let mut n = 0;
    for line in posts.lines().filter(|l| !l.trim().is_empty()) {
        let doc: Document = serde_json::from_str(line).unwrap();
        let a = an.analyze(&doc, None);
        let mut out = Vec::new();
        a.write_json(&mut out);
        assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&a).unwrap());
        n += 1;
    }
    // Strings that need escaping and a model confidence take the other paths.
    let doc =
        Document { id: "a\"b\\c\n".into(), title: "小区停水\t三天".into(), ..Document::default() };
    let mut a = an.analyze(&doc, None);
    if let Some(d) = a.departments.first_mut() {
        d.model_confidence = Some(0.25);
    }
    let mut out = Vec::new();
    a.write_json(&mut out);
    assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&a).unwrap());
    assert!(n >= 20);
}

#[test]
fn a_county_name_inside_a_trade_name_is_not_a_place() {
    assert!(super::in_trade_name(
        "购买西地省丰新源投资有限公司建设的商品房",
        "购买西地省丰".len(),
        "购买西地省丰新源".len()
    ));
    assert!(!super::in_trade_name("我在新源投资建厂", "我在".len(), "我在新源".len()));
    assert!(!super::in_trade_name("新源投资有限公司", 0, "新源".len()));
    assert!(!super::in_trade_name("来自新源的游客", "来自".len(), "来自新源".len()));
    assert!(!super::in_trade_name("丰新源", "丰".len(), "丰新源".len()));
}

/// Words for generated topics and posts: Han words that normalisation leaves as they are, some
/// containing others (渠 in 水渠), so matches overlap as in real text.
const VOCAB: [&str; 12] =
    ["水渠", "渠", "漏水", "垮塌", "小区", "停电", "物业", "电梯", "欠薪", "工地", "学校", "收费"];

fn words_of(idx: &[usize]) -> Vec<&'static str> {
    let mut w: Vec<&str> = idx.iter().map(|&i| VOCAB[i % VOCAB.len()]).collect();
    w.sort_unstable();
    w.dedup();
    w
}

fn toml_list(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// 65 to 140 topics (so each position's bit set spans several 64-bit words) of one to three
    /// word groups, with or without excludes: a topic fires exactly when each of its groups has a
    /// word in the post and none of its excludes is there.
    #[test]
    fn topics_fire_exactly_when_every_group_has_a_word(
        defs in proptest::collection::vec(
            (proptest::collection::vec(proptest::collection::vec(0usize..12, 1..4), 1..4),
             proptest::collection::vec(0usize..12, 0..2)),
            65..140),
        post_words in proptest::collection::vec(proptest::collection::vec(0usize..12, 0..6), 1..6),
    ) {
        let mut rules = String::from("unit = \"water\"\n");
        for (i, (groups, exclude)) in defs.iter().enumerate() {
            rules.push_str(&format!("[[topic]]\nid = \"w.t{i}\"\nname = \"t{i}\"\n"));
            for (key, g) in ["region", "subject", "event"].iter().zip(groups) {
                rules.push_str(&format!("{key} = {}\n", toml_list(&words_of(g))));
            }
            if !exclude.is_empty() {
                rules.push_str(&format!("exclude = {}\n", toml_list(&words_of(exclude))));
            }
        }
        let an = tiny(&rules).unwrap();
        for idx in &post_words {
            let body: String = idx.iter().map(|&i| VOCAB[i]).collect::<Vec<_>>().join("，");
            let mut expected: Vec<String> = defs
                .iter()
                .enumerate()
                .filter(|(_, (groups, exclude))| {
                    groups.iter().all(|g| words_of(g).iter().any(|w| body.contains(w)))
                        && !words_of(exclude).iter().any(|w| body.contains(w))
                })
                .map(|(i, _)| format!("w.t{i}"))
                .collect();
            let mut got = topics(&an, "", &body);
            expected.sort();
            got.sort();
            proptest::prop_assert_eq!(got, expected, "post {:?}", body);
        }
    }
}

#[test]
fn a_batch_is_analysed_like_each_post_alone() {
    let an = analyzer();
    let docs = [
        post("小区停水三天", "物业不作为，住建局也不管"),
        post("", ""),
        post("那拉提镇政府推诿", "村里的水渠垮塌了"),
        post("小区停水三天", "物业不作为，住建局也不管"),
        post("Yol buzuldi", "ئۆيدە سۇ يوق"),
    ];
    let batch = an.analyze_batch(&docs, None);
    let each: Vec<_> = docs.iter().map(|d| an.analyze(d, None)).collect();
    assert_eq!(batch, each);
    assert_eq!(batch.len(), docs.len());
}
