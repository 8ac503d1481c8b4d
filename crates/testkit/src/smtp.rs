//! An SMTP collector on `127.0.0.1:0`: speaks enough SMTP (`EHLO`/`HELO`, `MAIL`, `RCPT`, `DATA`,
//! `RSET`, `NOOP`, `QUIT`) for a client such as lettre to deliver to it, and records every accepted
//! message. It can be scripted to answer a failure (`451 …`, `550 …`) to the end of `DATA` for the
//! next messages, so tests can check how a sender classifies transient and permanent errors.
//!
//! No TLS, no AUTH: point the sender at it with plain SMTP.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The longest line or message the collector accepts (the connection is closed past it).
const MAX_MESSAGE: usize = 8 * 1024 * 1024;

/// A message as the collector received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The address of `MAIL FROM:<…>`.
    pub mail_from: String,
    /// The addresses of every `RCPT TO:<…>`.
    pub rcpt_to: Vec<String>,
    /// The message as sent after `DATA` (headers and body, CRLF line ends), dot-unstuffed, without
    /// the terminating `.` line.
    pub data: String,
}

impl Received {
    /// The value of the first header named `name` (case-insensitive), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or("");
        let mut found: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(v) = found.as_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            if found.is_some() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.trim().eq_ignore_ascii_case(name)
            {
                found = Some(v.trim().to_owned());
            }
        }
        found
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// Replies to the end of DATA for the next messages (e.g. `451 4.3.0 try later`), in order.
    failures: VecDeque<String>,
    /// Number of DATA transactions answered with a scripted failure.
    refused: usize,
}

/// The collector; it stops accepting connections when the last clone is dropped.
#[derive(Clone)]
pub struct SmtpCollector {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    _stop: Arc<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for SmtpCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpCollector").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl SmtpCollector {
    /// Binds `127.0.0.1:0` and serves on the current tokio runtime.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State::default()));
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let st = st.clone();
                        tokio::spawn(async move {
                            let _ = session(stream, st).await;
                        });
                    }
                }
            }
        });
        SmtpCollector { addr, state, _stop: Arc::new(tx) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The host to connect to (`127.0.0.1`).
    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answer `reply` (a full SMTP reply line such as `451 4.3.0 try again later`) to the end of
    /// `DATA` for the next `n` messages, instead of accepting them.
    pub fn fail_next(&self, n: usize, reply: &str) -> &Self {
        let mut g = self.lock();
        for _ in 0..n {
            g.failures.push_back(reply.to_owned());
        }
        self
    }

    /// The accepted messages, in order.
    pub fn messages(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// How many messages were answered with a scripted failure.
    pub fn refused(&self) -> usize {
        self.lock().refused
    }
}

async fn reply(w: &mut tokio::net::tcp::OwnedWriteHalf, text: &str) -> std::io::Result<()> {
    w.write_all(text.as_bytes()).await?;
    w.write_all(b"\r\n").await?;
    w.flush().await
}

/// `<addr>` of `MAIL FROM:<addr> PARAMS` / `RCPT TO:<addr>`.
fn path_arg(rest: &str) -> String {
    let rest = rest.trim();
    match (rest.find('<'), rest.find('>')) {
        (Some(a), Some(b)) if a < b => rest[a + 1..b].to_owned(),
        _ => rest.split_whitespace().next().unwrap_or("").to_owned(),
    }
}

async fn read_line(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    buf: &mut Vec<u8>,
) -> std::io::Result<bool> {
    buf.clear();
    let n = r.read_until(b'\n', buf).await?;
    if n == 0 || buf.len() > MAX_MESSAGE {
        return Ok(false);
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(true)
}

async fn session(stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    reply(&mut w, "220 testkit ESMTP collector").await?;
    let mut from: Option<String> = None;
    let mut rcpts: Vec<String> = Vec::new();
    let mut line = Vec::new();
    while read_line(&mut r, &mut line).await? {
        let text = String::from_utf8_lossy(&line).into_owned();
        let upper = text.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("").to_owned();
        match verb.as_str() {
            "EHLO" => {
                reply(&mut w, "250-testkit greets you\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING")
                    .await?
            }
            "HELO" => reply(&mut w, "250 testkit").await?,
            "MAIL" => match upper.find("FROM:") {
                Some(i) => {
                    from = Some(path_arg(&text[i + 5..]));
                    rcpts.clear();
                    reply(&mut w, "250 2.1.0 ok").await?
                }
                None => reply(&mut w, "501 5.5.4 syntax: MAIL FROM:<address>").await?,
            },
            "RCPT" => match (upper.find("TO:"), &from) {
                (Some(i), Some(_)) => {
                    rcpts.push(path_arg(&text[i + 3..]));
                    reply(&mut w, "250 2.1.5 ok").await?
                }
                (None, _) => reply(&mut w, "501 5.5.4 syntax: RCPT TO:<address>").await?,
                (_, None) => reply(&mut w, "503 5.5.1 need MAIL first").await?,
            },
            "DATA" => {
                if from.is_none() || rcpts.is_empty() {
                    reply(&mut w, "503 5.5.1 need MAIL and RCPT first").await?;
                    continue;
                }
                reply(&mut w, "354 end data with <CR><LF>.<CR><LF>").await?;
                let mut data = String::new();
                loop {
                    if !read_line(&mut r, &mut line).await? || data.len() > MAX_MESSAGE {
                        return Ok(());
                    }
                    if line == b"." {
                        break;
                    }
                    let body = if line.first() == Some(&b'.') { &line[1..] } else { &line[..] };
                    data.push_str(&String::from_utf8_lossy(body));
                    data.push_str("\r\n");
                }
                let failure = {
                    let mut g = state.lock().unwrap_or_else(|p| p.into_inner());
                    let failure = g.failures.pop_front();
                    match &failure {
                        Some(_) => g.refused += 1,
                        None => g.received.push(Received {
                            mail_from: from.clone().unwrap_or_default(),
                            rcpt_to: rcpts.clone(),
                            data,
                        }),
                    }
                    failure
                };
                from = None;
                rcpts.clear();
                match failure {
                    Some(f) => reply(&mut w, &f).await?,
                    None => reply(&mut w, "250 2.0.0 ok: queued").await?,
                }
            }
            "RSET" => {
                from = None;
                rcpts.clear();
                reply(&mut w, "250 2.0.0 ok").await?
            }
            "NOOP" => reply(&mut w, "250 2.0.0 ok").await?,
            "QUIT" => {
                reply(&mut w, "221 2.0.0 bye").await?;
                return Ok(());
            }
            _ => reply(&mut w, "502 5.5.2 command not implemented").await?,
        }
    }
    Ok(())
}
