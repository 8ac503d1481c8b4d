use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use yuqing_testkit::{FixtureServer, Reply};

use super::*;

fn quick_defaults() -> FetchDefaults {
    FetchDefaults {
        backoff_base_ms: 10,
        backoff_cap_ms: 50,
        per_host_requests_per_sec: 1000.0,
        per_host_concurrency: 8,
        timeout_secs: 2.0,
        ..FetchDefaults::default()
    }
}

fn open_cfg() -> FetchConfig {
    FetchConfig { allow_private_addresses: true, ..FetchConfig::default() }
}

async fn server() -> FixtureServer {
    let s = FixtureServer::start().await;
    s.route("/robots.txt", Reply::ok("text/plain", "User-agent: *\nDisallow: /private/\n"));
    s
}

fn fetcher(cfg: &FetchConfig, defaults: FetchDefaults) -> Fetcher {
    Fetcher::new("test", cfg, Politeness::new(defaults).unwrap()).unwrap()
}

fn url(s: &FixtureServer, path: &str) -> Url {
    Url::parse(&s.url(path)).unwrap()
}

async fn body_of(f: &Fetcher, u: &Url) -> Result<String, FetchError> {
    match f.get(u, None).await? {
        FetchOutcome::Fetched(x) => Ok(String::from_utf8_lossy(&x.body).into_owned()),
        FetchOutcome::NotModified => panic!("unexpected 304"),
    }
}

#[tokio::test]
async fn fetches_with_truthful_user_agent_headers_and_cookies() {
    let s = server().await;
    s.route("/a", Reply::html("<p>新源县</p>"));
    let mut cfg = open_cfg();
    cfg.headers.insert("Referer".into(), "https://www.xinyuan.gov.cn/".into());
    cfg.cookies.insert("SUB".into(), "abc".into());
    let f = fetcher(&cfg, quick_defaults());
    let out = f.get(&url(&s, "/a"), None).await.unwrap();
    let FetchOutcome::Fetched(x) = out else { panic!("expected a body") };
    assert_eq!(&x.body[..], "<p>新源县</p>".as_bytes());
    assert_eq!(x.sha256.len(), 64);
    let logged = s.log().into_iter().find(|l| l.path == "/a").unwrap();
    assert!(logged.headers["user-agent"].starts_with("yuqing/"), "{:?}", logged.headers);
    assert_eq!(logged.headers["referer"], "https://www.xinyuan.gov.cn/");
    assert_eq!(logged.headers["cookie"], "SUB=abc");
}

#[tokio::test]
async fn conditional_get_answers_not_modified() {
    let s = server().await;
    s.etag("/feed", "\"v1\"", Reply::ok("application/rss+xml", "<rss/>"));
    let f = fetcher(&open_cfg(), quick_defaults());
    let FetchOutcome::Fetched(first) = f.get(&url(&s, "/feed"), None).await.unwrap() else { panic!() };
    assert_eq!(first.validators.etag.as_deref(), Some("\"v1\""));
    let second = f.get(&url(&s, "/feed"), Some(&first.validators)).await.unwrap();
    assert!(matches!(second, FetchOutcome::NotModified));
}

#[tokio::test]
async fn retries_500_then_succeeds() {
    let s = server().await;
    s.sequence("/flaky", vec![Reply::status(500), Reply::status(503), Reply::html("ok")]);
    let f = fetcher(&open_cfg(), quick_defaults());
    assert_eq!(body_of(&f, &url(&s, "/flaky")).await.unwrap(), "ok");
    assert_eq!(s.hits("/flaky"), 3);
}

#[tokio::test]
async fn does_not_retry_permanent_errors() {
    let s = server().await;
    s.route("/gone", Reply::status(404));
    let f = fetcher(&open_cfg(), quick_defaults());
    let err = body_of(&f, &url(&s, "/gone")).await.unwrap_err();
    assert!(matches!(err, FetchError::Status { status: 404, .. }));
    assert!(!err.is_transient());
    assert_eq!(s.hits("/gone"), 1);
}

#[tokio::test]
async fn honours_retry_after_on_429() {
    let s = server().await;
    s.sequence("/busy", vec![Reply::status(429).header("retry-after", "1"), Reply::html("ok")]);
    let f = fetcher(&open_cfg(), quick_defaults());
    let t = Instant::now();
    assert_eq!(body_of(&f, &url(&s, "/busy")).await.unwrap(), "ok");
    let log: Vec<_> = s.log().into_iter().filter(|l| l.path == "/busy").collect();
    assert_eq!(log.len(), 2);
    assert!(log[1].at - log[0].at >= Duration::from_millis(950), "waited {:?}", log[1].at - log[0].at);
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn long_retry_after_fails_transient_with_the_delay() {
    let s = server().await;
    s.route("/later", Reply::status(429).header("retry-after", "3600"));
    let f = fetcher(&open_cfg(), quick_defaults());
    let err = body_of(&f, &url(&s, "/later")).await.unwrap_err();
    assert!(err.is_transient());
    assert_eq!(err.retry_after_secs(), Some(3600));
    let se: SourceError = err.into();
    assert!(matches!(se, SourceError::Transient { retry_after_secs: Some(3600), .. }));
    assert_eq!(s.hits("/later"), 1);
}

#[tokio::test]
async fn slow_response_times_out() {
    let s = server().await;
    s.route("/slow", Reply::html("late").delay(Duration::from_secs(3)));
    let mut cfg = open_cfg();
    cfg.timeout_secs = Some(0.3);
    cfg.retries = Some(0);
    let f = fetcher(&cfg, quick_defaults());
    let err = body_of(&f, &url(&s, "/slow")).await.unwrap_err();
    assert!(matches!(err, FetchError::Timeout { .. }), "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn redirect_loop_and_limit() {
    let s = server().await;
    s.route("/loop-a", Reply::redirect("/loop-b"));
    s.route("/loop-b", Reply::redirect("/loop-a"));
    for i in 0..10 {
        s.route(&format!("/hop{i}"), Reply::redirect(&format!("/hop{}", i + 1)));
    }
    s.route("/hop10", Reply::html("end"));
    let f = fetcher(&open_cfg(), quick_defaults());
    let err = body_of(&f, &url(&s, "/loop-a")).await.unwrap_err();
    assert!(matches!(err, FetchError::RedirectLoop { .. }), "{err}");
    let err = body_of(&f, &url(&s, "/hop0")).await.unwrap_err();
    assert!(matches!(err, FetchError::TooManyRedirects { limit: 5, .. }), "{err}");
    assert!(body_of(&f, &url(&s, "/hop6")).await.is_ok(), "four hops are within the limit");
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let s = server().await;
    s.route("/big", Reply::html(vec![b'a'; 300_000]));
    let mut cfg = open_cfg();
    cfg.max_body_bytes = Some(100_000);
    let f = fetcher(&cfg, quick_defaults());
    let err = body_of(&f, &url(&s, "/big")).await.unwrap_err();
    assert!(matches!(err, FetchError::TooLarge { limit: 100_000, .. }), "{err}");
}

#[tokio::test]
async fn robots_disallow_is_honoured_and_can_be_overridden_with_a_reason() {
    let s = server().await;
    s.route("/private/x", Reply::html("secret"));
    let f = fetcher(&open_cfg(), quick_defaults());
    let err = body_of(&f, &url(&s, "/private/x")).await.unwrap_err();
    assert!(matches!(err, FetchError::RobotsDisallowed { .. }), "{err}");
    assert!(!err.is_transient());
    assert_eq!(s.hits("/private/x"), 0, "a disallowed page is never requested");
    // robots.txt is cached: a second page does not fetch it again
    s.route("/public", Reply::html("ok"));
    body_of(&f, &url(&s, "/public")).await.unwrap();
    assert_eq!(s.hits("/robots.txt"), 1);

    let mut cfg = open_cfg();
    cfg.ignore_robots_reason = Some("the county's own site, agreed with its operator".into());
    let f = fetcher(&cfg, quick_defaults());
    assert_eq!(body_of(&f, &url(&s, "/private/x")).await.unwrap(), "secret");
    cfg.ignore_robots_reason = Some("  ".into());
    assert!(
        Fetcher::new("x", &cfg, Politeness::new(quick_defaults()).unwrap()).is_err(),
        "a reason is required"
    );
}

#[tokio::test]
async fn robots_5xx_blocks_the_host_for_now() {
    let s = FixtureServer::start().await;
    s.route("/robots.txt", Reply::status(503));
    s.route("/a", Reply::html("a"));
    let mut cfg = open_cfg();
    cfg.retries = Some(0);
    let f = fetcher(&cfg, quick_defaults());
    let err = body_of(&f, &url(&s, "/a")).await.unwrap_err();
    assert!(matches!(err, FetchError::RobotsUnavailable { .. }), "{err}");
    assert!(err.is_transient());
    assert_eq!(s.hits("/a"), 0);
}

#[tokio::test]
async fn missing_robots_allows_all() {
    let s = FixtureServer::start().await;
    s.route("/a", Reply::html("a"));
    let f = fetcher(&open_cfg(), quick_defaults());
    assert_eq!(body_of(&f, &url(&s, "/a")).await.unwrap(), "a");
}

#[tokio::test]
async fn ssrf_guard_refuses_loopback_literal_name_and_redirect() {
    let s = server().await;
    s.route("/a", Reply::html("internal"));
    s.route("/to-internal", Reply::redirect(&s.url("/a")));
    let mut hosts = HashMap::new();
    hosts.insert("intranet.example".to_owned(), vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
    hosts.insert("public.example".to_owned(), vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
    let pol = Politeness::with_static_hosts(quick_defaults(), hosts).unwrap();
    let guarded = Fetcher::new("guarded", &FetchConfig::default(), pol.clone()).unwrap();

    // an IP literal
    let err = body_of(&guarded, &url(&s, "/a")).await.unwrap_err();
    assert!(matches!(err, FetchError::Forbidden { .. }), "{err}");
    // a host name that resolves to 127.0.0.1
    let err = body_of(&guarded, &Url::parse(&s.url_as("intranet.example", "/a")).unwrap()).await.unwrap_err();
    assert!(matches!(err, FetchError::Forbidden { .. }), "{err}");
    assert!(!err.is_transient());
    // the system resolver's localhost too
    let err = body_of(&guarded, &Url::parse(&s.url_as("localhost", "/a")).unwrap()).await.unwrap_err();
    assert!(matches!(err, FetchError::Forbidden { .. }), "{err}");
    // a redirect to it: the source allows exactly one private host name, whose page redirects to a
    // loopback literal and to another name resolving to loopback; both hops are refused
    s.route("/to-name", Reply::redirect(&s.url_as("intranet.example", "/a")));
    let one_host =
        FetchConfig { allow_private_hosts: vec!["public.example".into()], ..FetchConfig::default() };
    let f = Fetcher::new("redir", &one_host, pol).unwrap();
    assert!(body_of(&f, &Url::parse(&s.url_as("public.example", "/robots.txt")).unwrap()).await.is_ok());
    for hop in ["/to-internal", "/to-name"] {
        let err = body_of(&f, &Url::parse(&s.url_as("public.example", hop)).unwrap()).await.unwrap_err();
        assert!(matches!(err, FetchError::Forbidden { .. }), "{hop}: {err}");
        assert_eq!(s.hits(hop), 1, "the allowed host was reached");
    }
    assert_eq!(s.hits("/a"), 0, "nothing internal was ever requested");

    // and a source that explicitly allows private addresses reaches it
    let open = fetcher(&open_cfg(), quick_defaults());
    assert_eq!(body_of(&open, &url(&s, "/a")).await.unwrap(), "internal");
}

#[tokio::test]
async fn redirect_from_public_name_to_private_name_is_refused() {
    let s = server().await;
    s.route("/a", Reply::html("internal"));
    let mut hosts = HashMap::new();
    hosts.insert("intranet.example".to_owned(), vec!["10.0.0.7".parse::<IpAddr>().unwrap()]);
    let pol = Politeness::with_static_hosts(quick_defaults(), hosts).unwrap();
    // The redirect's target is a name, so it is checked by the resolver at connect time.
    let f = Fetcher::new("g", &FetchConfig::default(), pol).unwrap();
    let err = body_of(&f, &Url::parse("http://intranet.example/a").unwrap()).await.unwrap_err();
    assert!(matches!(err, FetchError::Forbidden { .. }), "{err}");
}

#[tokio::test]
async fn per_host_rate_limit_spaces_requests() {
    let s = server().await;
    s.route("/p", Reply::html("p"));
    let defaults = FetchDefaults { per_host_requests_per_sec: 10.0, ..quick_defaults() };
    let f = fetcher(&FetchConfig { ignore_robots_reason: Some("test".into()), ..open_cfg() }, defaults);
    let u = url(&s, "/p");
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let f = f.clone();
        let u = u.clone();
        tasks.push(tokio::spawn(async move { body_of(&f, &u).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let mut times: Vec<Instant> = s.log().into_iter().filter(|l| l.path == "/p").map(|l| l.at).collect();
    times.sort();
    let span = *times.last().unwrap() - times[0];
    assert!(span >= Duration::from_millis(450), "6 requests at 10/s span ≥ 0.5 s, got {span:?}");
}

#[test]
fn retry_after_formats() {
    let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z").unwrap().with_timezone(&Utc);
    assert_eq!(parse_retry_after("120", now), Some(120));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(60));
    assert_eq!(parse_retry_after("soon", now), None);
}

#[tokio::test]
async fn through_a_proxy_private_targets_are_refused_before_any_request() {
    // The "proxy" is the fixture server itself: nothing may reach it for a private target.
    let s = server().await;
    let cfg = FetchConfig { proxy: Some(s.url("")), ..FetchConfig::default() };
    let f = Fetcher::new("proxied", &cfg, Politeness::new(quick_defaults()).unwrap()).unwrap();
    let err = body_of(&f, &Url::parse("http://localhost/admin").unwrap()).await.unwrap_err();
    assert!(matches!(err, FetchError::Forbidden { .. }), "{err}");
    assert!(s.log().is_empty(), "nothing went through the proxy: {:?}", s.log());
}
