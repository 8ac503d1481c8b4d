//! A local news site for the crawl benchmark: `/news/index.html`, `/news/index_{n}.html` list pages
//! (50 articles each) and `/a/{n}.html` article pages of realistic size, generated on the fly.
//! Every request is logged with its arrival time (seconds since the Unix epoch) to `--log FILE`,
//! so a benchmark can prove from the server's side that a rate limit held.
//!
//! `fixture-site --articles 10000 --log requests.log` prints `http://127.0.0.1:PORT` and serves
//! until killed.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const PER_PAGE: usize = 50;

struct Site {
    articles: usize,
    log: Option<Mutex<std::io::BufWriter<std::fs::File>>>,
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

async fn handle(State(site): State<Arc<Site>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if let Some(log) = &site.log {
        let t = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        let mut w = log.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(w, "{t:.6} {path}");
        let _ = w.flush();
    }
    let html = |s: String| ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], s).into_response();
    if path == "/robots.txt" {
        return ([(header::CONTENT_TYPE, "text/plain")], "User-agent: *\nDisallow: /private/\n")
            .into_response();
    }
    if path == "/news/index.html"
        && let Some(s) = list(&site, 1)
    {
        return html(s);
    }
    if let Some(n) =
        path.strip_prefix("/news/index_").and_then(|r| r.strip_suffix(".html")).and_then(|n| n.parse().ok())
        && let Some(s) = list(&site, n)
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
    let mut articles = 10_000usize;
    let mut log = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--articles" => articles = args.next().and_then(|v| v.parse().ok()).unwrap_or(articles),
            "--log" => log = args.next(),
            other => {
                eprintln!("unknown argument {other:?}; usage: fixture-site [--articles N] [--log FILE]");
                std::process::exit(2);
            }
        }
    }
    let log = match log {
        Some(p) => Some(Mutex::new(std::io::BufWriter::new(std::fs::File::create(p)?))),
        None => None,
    };
    let site = Arc::new(Site { articles, log });
    let app = axum::Router::new().fallback(handle).with_state(site);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    axum::serve(listener, app).await
}
