//! A local news site for the crawl benchmark: `/news/index.html`, `/news/index_{n}.html` list pages
//! (50 articles each) and `/a/{n}.html` article pages of realistic size, generated on the fly.
//! Every request is logged with its arrival time (seconds since the Unix epoch) to `--log FILE`,
//! so a benchmark can prove from the server's side that a rate limit held.
//!
//! `fixture-site --articles 10000 --log requests.log` prints `http://127.0.0.1:PORT` and serves
//! until killed.
//!
//! For the crash-safety and scale-out benchmarks it also serves `--feeds N` RSS feeds
//! `/feed/{k}.xml` of `--items M` distinct posts each (link `http://fixture/feed/{k}/{j}.html`, the
//! item id), optionally writing the full list of links to `--manifest FILE`; `--latency-ms L`
//! delays every response. Log lines are `ARRIVAL PATH DONE` (seconds since the Unix epoch).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const PER_PAGE: usize = 50;

struct Site {
    articles: usize,
    feeds: usize,
    items: usize,
    latency: std::time::Duration,
    log: Option<Mutex<std::io::BufWriter<std::fs::File>>>,
}

/// Sentences feed posts are made of; each post picks its own, so no two posts have the same text.
const SENTENCES: &[&str] = &[
    "小区暖气片摸着冰凉，室内温度不到十六度，物业说是热力公司的问题。",
    "工地拖欠农民工工资已经三个月，包工头电话打不通。",
    "镇卫生院排队两个小时才看上病，希望增加医生。",
    "超市里卖的牛奶过期了还在货架上，店员说是忘了下架。",
    "村里通往牧场的道路被雨水冲坏，牧民转场很不方便。",
    "学校营养餐分量少，孩子回家说没吃饱。",
    "养殖场的污水直接排到河里，夏天气味很大。",
    "那拉提景区门票和区间车收费不清楚，游客意见很大。",
    "低保审核迟迟没有结果，社区说材料还在乡里。",
    "自来水连续两天停水，没有提前通知。",
    "感谢县医院医生耐心细致，服务态度很好。",
    "新修的便民服务中心办事方便，一次就办好了。",
];

fn feed_post(k: usize, j: usize) -> (String, String) {
    let mut x =
        (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (j as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    let mut body = format!("信息源{k}第{j}条：");
    for _ in 0..4 {
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        body.push_str(SENTENCES[(x % SENTENCES.len() as u64) as usize]);
    }
    body.push_str(&format!("（编号{k}-{j}）"));
    (format!("信息源{k}的第{j}条反映"), body)
}

fn feed(site: &Site, k: usize) -> Option<String> {
    if k >= site.feeds {
        return None;
    }
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><title>信息源{k}</title><link>http://fixture/feed/{k}</link><description>fixture</description>"
    );
    for j in 0..site.items {
        let (title, body) = feed_post(k, j);
        s.push_str(&format!(
            "<item><title>{title}</title><link>http://fixture/feed/{k}/{j}.html</link><guid isPermaLink=\"false\">fixture:{k}:{j}</guid><pubDate>Thu, 26 Nov 2026 10:{:02}:00 +0800</pubDate><description>{body}</description></item>",
            j % 60
        ));
    }
    s.push_str("</channel></rss>");
    Some(s)
}

fn paragraph(n: usize, i: usize) -> String {
    format!(
        "<p>第{i}段：新源县第{n}号通报。县住房和城乡建设局、人力资源和社会保障局、卫生健康委员会等部门联合开展冬季供暖、\
         农民工工资支付和医疗服务专项检查，对群众通过12345热线反映的问题逐件核实、限期整改，并及时向社会公开办理结果。\
         那拉提镇、肖尔布拉克镇等乡镇同步组织排查，确保问题不过夜、群众有回音。</p>"
    )
}

fn article(n: usize) -> String {
    let mut body = String::new();
    for i in 1..=8 {
        body.push_str(&paragraph(n, i));
    }
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>新源县专项检查通报（第{n}号）_新源县人民政府</title></head><body>\
         <div class=\"nav\"><a href=\"/\">首页</a> <a href=\"/news/index.html\">新源要闻</a> <a href=\"/gk/\">政务公开</a></div>\
         <div class=\"article\"><h1>新源县专项检查通报（第{n}号）</h1><div class=\"info\">发布时间：2026-11-{:02} 10:{:02} 来源：新源县融媒体中心</div>\
         <div class=\"content\">{body}</div></div>\
         <div class=\"related\"><h3>相关新闻</h3><ul><li><a href=\"/a/{}.html\">上一篇</a></li><li><a href=\"/a/{}.html\">下一篇</a></li></ul></div>\
         <div class=\"footer\">版权所有：新源县人民政府 新ICP备00000000号</div></body></html>",
        n % 28 + 1,
        n % 60,
        n.saturating_sub(1),
        n + 1
    )
}

fn list(site: &Site, page: usize) -> Option<String> {
    let pages = site.articles.div_ceil(PER_PAGE);
    if page == 0 || page > pages {
        return None;
    }
    let mut s = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>新源要闻</title></head><body><ul class=\"list\">",
    );
    let first = (page - 1) * PER_PAGE;
    for n in first..(first + PER_PAGE).min(site.articles) {
        s.push_str(&format!(
            "<li><a href=\"/a/{n}.html\">新源县专项检查通报（第{n}号）</a><span>2026-11-{:02}</span></li>",
            n % 28 + 1
        ));
    }
    s.push_str("</ul>");
    if page < pages {
        s.push_str(&format!("<a class=\"next\" href=\"/news/index_{}.html\">下一页</a>", page + 1));
    }
    s.push_str("</body></html>");
    Some(s)
}

fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

async fn handle(State(site): State<Arc<Site>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let arrival = now_secs();
    if !site.latency.is_zero() {
        tokio::time::sleep(site.latency).await;
    }
    let response = respond(&site, &path);
    if let Some(log) = &site.log {
        let mut w = log.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(w, "{arrival:.6} {path} {:.6}", now_secs());
        let _ = w.flush();
    }
    response
}

fn respond(site: &Site, path: &str) -> Response {
    let html = |s: String| ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], s).into_response();
    if let Some(k) =
        path.strip_prefix("/feed/").and_then(|r| r.strip_suffix(".xml")).and_then(|n| n.parse::<usize>().ok())
        && let Some(s) = feed(site, k)
    {
        return ([(header::CONTENT_TYPE, "application/rss+xml; charset=utf-8")], s).into_response();
    }
    if path == "/robots.txt" {
        return ([(header::CONTENT_TYPE, "text/plain")], "User-agent: *\nDisallow: /private/\n")
            .into_response();
    }
    if path == "/news/index.html"
        && let Some(s) = list(site, 1)
    {
        return html(s);
    }
    if let Some(n) =
        path.strip_prefix("/news/index_").and_then(|r| r.strip_suffix(".html")).and_then(|n| n.parse().ok())
        && let Some(s) = list(site, n)
    {
        return html(s);
    }
    if let Some(n) =
        path.strip_prefix("/a/").and_then(|r| r.strip_suffix(".html")).and_then(|n| n.parse::<usize>().ok())
        && n < site.articles
    {
        return html(article(n));
    }
    (StatusCode::NOT_FOUND, "not found").into_response()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut articles, mut feeds, mut items, mut latency_ms) = (10_000usize, 0usize, 20usize, 0u64);
    let (mut log, mut manifest) = (None, None);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--articles" => articles = args.next().and_then(|v| v.parse().ok()).unwrap_or(articles),
            "--feeds" => feeds = args.next().and_then(|v| v.parse().ok()).unwrap_or(feeds),
            "--items" => items = args.next().and_then(|v| v.parse().ok()).unwrap_or(items),
            "--latency-ms" => latency_ms = args.next().and_then(|v| v.parse().ok()).unwrap_or(latency_ms),
            "--log" => log = args.next(),
            "--manifest" => manifest = args.next(),
            other => {
                eprintln!(
                    "unknown argument {other:?}; usage: fixture-site [--articles N] [--feeds N --items M] \
                     [--latency-ms L] [--log FILE] [--manifest FILE]"
                );
                std::process::exit(2);
            }
        }
    }
    if let Some(m) = manifest {
        let mut w = std::io::BufWriter::new(std::fs::File::create(m)?);
        for k in 0..feeds {
            for j in 0..items {
                writeln!(w, "http://fixture/feed/{k}/{j}.html")?;
            }
        }
        w.flush()?;
    }
    let log = match log {
        Some(p) => Some(Mutex::new(std::io::BufWriter::new(std::fs::File::create(p)?))),
        None => None,
    };
    let site =
        Arc::new(Site { articles, feeds, items, latency: std::time::Duration::from_millis(latency_ms), log });
    let app = axum::Router::new().fallback(handle).with_state(site);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    axum::serve(listener, app).await
}
