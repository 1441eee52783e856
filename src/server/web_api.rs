//! A fake Steam Web API on loopback, for testing [`crate::web_api`] with no network: a
//! plain-HTTP listener serving `GetServerList` and `GetServersAtAddress` from given
//! lists, checking the key as Steam does.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::running::{self, Background, Served};
use super::Running;
use crate::error::Result;
use crate::web_api::{ServerAtAddress, ServerSummary};

/// How often the serving thread checks whether it should stop.
const POLL: Duration = Duration::from_millis(5);

/// The most header bytes read from one request.
const MAX_HEAD: usize = 16 * 1024;

/// Steam's answer to a wrong key (an HTML page, not JSON).
const FORBIDDEN: &str = "<html><head><title>Forbidden</title></head><body><h1>Forbidden</h1>\
    Access is denied. Check the key= parameter.</body></html>";

/// One request the fake received: its path, its decoded query parameters and its
/// headers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebApiRequest {
    /// The path, e.g. `/IGameServersService/GetServerList/v1/`.
    pub path: String,
    /// The query parameters, percent-decoded, in order.
    pub params: Vec<(String, String)>,
    /// The headers, names in lower case, in order.
    pub headers: Vec<(String, String)>,
}

impl WebApiRequest {
    /// The first value of the parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The first value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The key the request carried: the `x-webapi-key` header, or the `key` parameter.
    pub fn key(&self) -> Option<&str> {
        self.header("x-webapi-key").or_else(|| self.param("key"))
    }
}

/// A fake Web API serving `servers` to requests bearing `key`.
///
/// ```
/// use a2s_query::{proto::{Condition, Filter}, server::FakeWebApi, web_api::{ServerSummary, WebApi}};
/// let mut server = ServerSummary::new("192.0.2.7:27015".parse()?);
/// server.name = "Badlands 24/7".into();
/// let fake = FakeWebApi::new("K3Y", vec![server.clone()]).spawn()?;
/// let api = WebApi::new("K3Y").base_url(fake.base_url());
/// let list = api.server_list(&Filter::from(Condition::AppId(440)), 100)?;
/// assert_eq!(list.servers, vec![server]);
/// assert_eq!(fake.requests()[0].param("filter"), Some("\\appid\\440"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct FakeWebApi {
    /// The key `GetServerList` accepts; any other gets Steam's 403 page.
    pub key: String,
    /// The list `GetServerList` serves (cut to the request's `limit`, 100 without one).
    pub servers: Vec<ServerSummary>,
    /// A body served for `GetServerList` instead of one written from `servers`: for odd
    /// and malformed replies.
    pub list_body: Option<String>,
    /// What `GetServersAtAddress` serves: the entries on the asked IP.
    pub at_address: Vec<ServerAtAddress>,
    /// Answer every request with this HTTP status instead, and `list_body` (or a short
    /// page) as its body.
    pub status: Option<u16>,
    /// Echo each request back: `{request}` in a body served becomes the request's
    /// headers (the key among them), as an endpoint that echoes its request does, to
    /// test that no error shows the key.
    pub echo: bool,
    /// Answer the first this many requests with `throttle_status` (429, a 5xx): a
    /// throttled or flaky API.
    pub throttle_first: usize,
    /// The status of those answers.
    pub throttle_status: u16,
    /// The `Retry-After` every error answer carries, in seconds.
    pub retry_after: Option<u32>,
}

impl FakeWebApi {
    /// A fake serving `servers` to the key `key`.
    pub fn new(key: impl Into<String>, servers: Vec<ServerSummary>) -> Self {
        FakeWebApi { key: key.into(), servers, ..Default::default() }
    }

    /// The same, serving `body` for `GetServerList` instead of a list written from
    /// `servers`.
    pub fn list_body(mut self, body: impl Into<String>) -> Self {
        self.list_body = Some(body.into());
        self
    }

    /// The same, serving `entries` for `GetServersAtAddress`.
    pub fn at_address(mut self, entries: Vec<ServerAtAddress>) -> Self {
        self.at_address = entries;
        self
    }

    /// The same, answering every request with HTTP `status`.
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// The same, answering the first `requests` requests with HTTP `status` (429, a 5xx).
    pub fn throttle(mut self, requests: usize, status: u16) -> Self {
        self.throttle_first = requests;
        self.throttle_status = status;
        self
    }

    /// The same, every error answer carrying `Retry-After: seconds`.
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The same, echoing each request's headers where a body served says `{request}`.
    pub fn echo(mut self) -> Self {
        self.echo = true;
        self
    }

    /// Serves on 127.0.0.1 in a new thread until the handle is dropped.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) when the listener cannot be bound.
    pub fn spawn(self) -> Result<Running<FakeWebApi>> {
        let listener = TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        let serving = Background::spawn(move |stop| {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => self.serve(stream, &log),
                    Err(_) => std::thread::sleep(POLL),
                }
            }
        });
        Ok(Running::new(local_addr, requests, serving))
    }

    /// Answers one connection's request and closes it.
    fn serve(&self, stream: TcpStream, requests: &Mutex<Vec<WebApiRequest>>) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let Some(request) = read_request(&stream) else { return };
        let mut count = usize::MAX;
        if let Ok(mut r) = requests.lock() {
            r.push(request.clone());
            count = r.len();
        }
        let throttled = count <= self.throttle_first;
        let (status, body) = if throttled {
            (self.throttle_status, format!("<html><body>status {}</body></html>", self.throttle_status))
        } else {
            self.answer(&request)
        };
        let retry_after = match self.retry_after.filter(|_| status != 200) {
            Some(seconds) => format!("Retry-After: {seconds}\r\n"),
            None => String::new(),
        };
        let reason = match status {
            200 => "OK",
            403 => "Forbidden",
            404 => "Not Found",
            429 => "Too Many Requests",
            _ => "Error",
        };
        let kind = if body.starts_with('{') { "application/json; charset=UTF-8" } else { "text/html" };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n{retry_after}Connection: close\r\n\r\n",
            body.len()
        );
        let mut stream = stream;
        let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
    }

    /// The status and body answering `request`, echoing it if asked.
    fn answer(&self, request: &WebApiRequest) -> (u16, String) {
        let (status, body) = self.answer_plain(request);
        if !self.echo {
            return (status, body);
        }
        // (Escaped for a JSON string, where a test puts it.)
        let headers: Vec<String> = request.headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
        let echoed = headers.join("; ").replace('\\', "\\\\").replace('"', "\\\"");
        (status, body.replace("{request}", &echoed))
    }

    /// The status and body answering `request`.
    fn answer_plain(&self, request: &WebApiRequest) -> (u16, String) {
        if let Some(status) = self.status {
            let body = self.list_body.clone();
            return (status, body.unwrap_or_else(|| format!("<html><body>status {status}</body></html>")));
        }
        match request.path.trim_end_matches('/') {
            "/IGameServersService/GetServerList/v1" => {
                if request.key() != Some(self.key.as_str()) || self.key.is_empty() {
                    return (403, FORBIDDEN.to_owned());
                }
                if let Some(body) = &self.list_body {
                    return (200, body.clone());
                }
                let limit = request.param("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
                let servers: Vec<Value> = self.servers.iter().take(limit).map(summary_json).collect();
                let response = if servers.is_empty() { json!({}) } else { json!({ "servers": servers }) };
                (200, json!({ "response": response }).to_string())
            }
            "/ISteamApps/GetServersAtAddress/v1" => {
                let Some(ip) = request.param("addr").and_then(|a| a.parse::<IpAddr>().ok()) else {
                    let message = "'addr' param should specify a valid IP or IP:queryport";
                    return (200, json!({ "response": { "success": false, "message": message } }).to_string());
                };
                let servers: Vec<Value> =
                    self.at_address.iter().filter(|s| s.addr.ip() == ip).map(at_address_json).collect();
                (200, json!({ "response": { "success": true, "servers": servers } }).to_string())
            }
            _ => (404, "<html><body>Not Found</body></html>".to_owned()),
        }
    }
}

/// Reads a request's head: the request line's target, split and decoded.
fn read_request(stream: &TcpStream) -> Option<WebApiRequest> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split(' ').nth(1)?.to_owned();
    let mut read = line.len();
    let mut headers = Vec::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).ok()?;
        read += n;
        if n == 0 || line == "\r\n" || line == "\n" || read > MAX_HEAD {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let params = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect();
    Some(WebApiRequest { path: percent_decode(path), params, headers })
}

/// `%XX` escapes and `+` undone; a malformed escape is kept as written.
fn percent_decode(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex: Vec<u8> = bytes.clone().take(2).collect();
                match std::str::from_utf8(&hex).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) if hex.len() == 2 => {
                        out.push(v);
                        bytes.nth(1);
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A summary as the API writes it: absent fields left out, the Steam id as a string.
fn summary_json(s: &ServerSummary) -> Value {
    let mut o = Map::new();
    o.insert("addr".into(), s.addr.to_string().into());
    put(&mut o, "gameport", s.game_port);
    put(&mut o, "specport", s.spec_port);
    put(&mut o, "steamid", s.steam_id.map(|id| id.to_string()));
    o.insert("name".into(), s.name.clone().into());
    put(&mut o, "appid", s.app_id);
    o.insert("gamedir".into(), s.game_dir.clone().into());
    o.insert("version".into(), s.version.clone().into());
    o.insert("product".into(), s.product.clone().into());
    put(&mut o, "region", s.region);
    put(&mut o, "players", s.players);
    put(&mut o, "max_players", s.max_players);
    put(&mut o, "bots", s.bots);
    o.insert("map".into(), s.map.clone().into());
    put(&mut o, "secure", s.secure);
    put(&mut o, "dedicated", s.dedicated);
    put(&mut o, "os", s.os.map(|p| char::from(p).to_string()));
    if !s.game_type.is_empty() {
        o.insert("gametype".into(), s.game_type.clone().into());
    }
    Value::Object(o)
}

/// An entry of `GetServersAtAddress` as the API writes it.
fn at_address_json(s: &ServerAtAddress) -> Value {
    let mut o = Map::new();
    o.insert("addr".into(), s.addr.to_string().into());
    put(&mut o, "steamid", s.steam_id.map(|id| id.to_string()));
    put(&mut o, "appid", s.app_id);
    o.insert("gamedir".into(), s.game_dir.clone().into());
    put(&mut o, "region", s.region);
    put(&mut o, "secure", s.secure);
    put(&mut o, "lan", s.lan);
    put(&mut o, "gameport", s.game_port);
    o.insert("specport".into(), s.spec_port.unwrap_or(0).into());
    put(&mut o, "reject", s.reject);
    Value::Object(o)
}

fn put<T: Into<Value>>(o: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        o.insert(key.into(), v.into());
    }
}

/// What a fake Web API's handle reads: the requests it received.
impl Served for FakeWebApi {
    type Seen = Arc<Mutex<Vec<WebApiRequest>>>;
}
impl running::sealed::Sealed for FakeWebApi {}

impl Running<FakeWebApi> {
    /// The base URL to give [`crate::web_api::WebApi::base_url`]: `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr())
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<WebApiRequest> {
        self.seen.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("%5Cappid%5C440+x"), "\\appid\\440 x");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
    }
}
