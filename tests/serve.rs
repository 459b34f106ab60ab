//! Integration tests of `vocscope serve`: the real binary on a free port,
//! driven by a tiny HTTP/1.1 client over `TcpStream`, and an end-to-end run in
//! headless Chromium through chromedriver (WebDriver JSON over plain HTTP).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A record whose text tries to inject HTML into the page.
const HOSTILE: &str = r#"{"id":"xss-1","created_at":"2026-11-10T10:00:00Z","title":"<b>bold</b> refund","text":"Refund please <img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=2</script> zzxssmarker"}"#;

/// A record whose cells would run as formulas in a spreadsheet.
const FORMULA: &str = r#"{"id":"formula-1","created_at":"2026-11-11T10:00:00Z","title":"=HYPERLINK(\"http://example.invalid\",\"click\")","text":"=1+2 zzformulamarker my refund never came"}"#;

/// The bundled sample plus hostile records, indexed once for this binary.
fn index() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir").keep();
        let bin = assert_cmd::cargo::cargo_bin("vocscope");
        let index = dir.join("index");
        let run = |extra: Option<&Path>| {
            let mut cmd = Command::new(&bin);
            cmd.args(["run", "--quiet", "--index"])
                .arg(&index)
                .arg("--out")
                .arg(dir.join("report"));
            if let Some(p) = extra {
                cmd.arg(p).args(["--source", "web"]);
            }
            assert!(cmd.status().expect("vocscope run").success());
        };
        run(None);
        let hostile = dir.join("hostile.jsonl");
        std::fs::write(&hostile, format!("{HOSTILE}\n{FORMULA}\n")).expect("write");
        run(Some(&hostile));
        index
    })
}

/// A running `vocscope serve`, stopped on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start() -> Server {
        Server::start_on(index())
    }

    fn start_on(index: &Path) -> Server {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("vocscope"))
            .args(["serve", "--addr", "127.0.0.1:0", "--index"])
            .arg(index)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start vocscope serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("first line");
        let url = line
            .trim()
            .strip_prefix("serving http://")
            .expect("URL line");
        let addr = url.trim_end_matches('/').parse().expect("address");
        Server { child, addr }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status, headers (lowercase names), body.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// Sends raw bytes and reads one response: up to `Content-Length`, the last
/// chunk, or the end of the stream. chromedriver answers `Connection: close`
/// yet keeps the socket open, so reading to the end would wait for the
/// timeout on every call.
fn raw(addr: SocketAddr, request: &[u8]) -> Option<Response> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    stream.write_all(request).ok()?;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        if response_complete(&bytes) {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
    }
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..split]).to_string();
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = bytes[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Some(Response {
        status,
        headers,
        body,
    })
}

/// Whether `bytes` hold a whole response (headers and the body they announce).
fn response_complete(bytes: &[u8]) -> bool {
    let Some(split) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&bytes[..split]).to_lowercase();
    let body = &bytes[split + 4..];
    for line in head.lines().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match name.trim() {
            "content-length" => {
                return value.trim().parse::<usize>().is_ok_and(|n| body.len() >= n)
            }
            "transfer-encoding" if value.contains("chunked") => {
                return body.ends_with(b"0\r\n\r\n")
            }
            _ => {}
        }
    }
    false
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 || data.len() < end + 2 + size {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[(end + 4 + size).min(data.len())..];
    }
    out
}

fn http(method: &str, addr: SocketAddr, path: &str) -> Response {
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    raw(addr, request.as_bytes()).expect("a response")
}

fn get(addr: SocketAddr, path: &str) -> Response {
    http("GET", addr, path)
}

#[test]
fn page_is_served_self_contained() {
    let server = Server::start();
    let r = get(server.addr, "/");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html")));
    assert!(r
        .header("content-security-policy")
        .is_some_and(|c| c.contains("default-src 'none'")));
    let page = String::from_utf8(r.body).expect("UTF-8");
    assert!(page.contains("id=\"q\""));
    assert!(!page.contains("<script src") && !page.contains("<link"));
}

#[test]
fn search_api_returns_hits_and_facets() {
    let server = Server::start();
    let r = get(server.addr, "/api/search?q=%E9%80%80%E6%AC%BE&limit=3");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.contains("application/json")));
    let v = r.json();
    let total = v["total"].as_u64().expect("total");
    assert!(total > 3);
    assert_eq!(v["hits"].as_array().expect("hits").len(), 3);
    let sum: u64 = v["facets"]["sentiment"]
        .as_array()
        .expect("sentiment")
        .iter()
        .filter_map(|f| f["count"].as_u64())
        .sum();
    assert_eq!(sum, total);
    let hit = &v["hits"][0];
    let parts = hit["snippet_parts"].as_array().expect("parts");
    assert!(parts.iter().any(|p| p["hl"] == true && p["text"] == "退款"));

    // Paging: offset skips that many of the same ordering.
    let keys = |path: &str| -> Vec<String> {
        get(server.addr, path).json()["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| h["key"].as_str().expect("key").to_string())
            .collect()
    };
    let first = keys("/api/search?q=refund&limit=6&sort=date");
    let page = keys("/api/search?q=refund&limit=3&offset=3&sort=date");
    assert_eq!(first.len(), 6);
    assert_eq!(page, first[3..]);
    assert!(keys("/api/search?q=refund&offset=10000").is_empty());

    // Filters narrow, and the theme includes its children.
    let all = get(server.addr, "/api/search?limit=1").json()["total"].as_u64();
    let group = get(server.addr, "/api/search?theme=delivery&limit=1").json()["total"].as_u64();
    let leaf = get(server.addr, "/api/search?theme=delivery.late&limit=1").json()["total"].as_u64();
    assert!(
        all > group && group > leaf && leaf > Some(0),
        "{all:?} {group:?} {leaf:?}"
    );
    let filtered = get(
        server.addr,
        "/api/search?q=refund&sentiment=negative&lang=en&since=2026-09-01&until=2026-12-01&min_rating=1&max_rating=2&sort=date",
    );
    assert_eq!(filtered.status, 200);
    for h in filtered.json()["hits"].as_array().expect("hits") {
        assert_eq!(h["sentiment"]["label"], "negative");
        assert!(h["rating"].as_f64().is_some_and(|r| r <= 2.0));
    }
}

#[test]
fn record_and_themes_api() {
    let server = Server::start();
    let v = get(server.addr, "/api/search?q=%22charged+twice%22&limit=1").json();
    let key = v["hits"][0]["key"].as_str().expect("a hit").to_string();
    let (source, id) = key.split_once(':').expect("source:id");
    let r = get(server.addr, &format!("/api/record/{source}/{id}"));
    assert_eq!(r.status, 200);
    let rec = r.json();
    assert_eq!(rec["key"], key.as_str());
    assert!(rec["record"]["text"].as_str().is_some());
    let themes = rec["analysis"]["themes"].as_array().expect("themes");
    assert!(themes
        .iter()
        .any(|t| t["cues"].as_array().is_some_and(|c| !c.is_empty())));

    assert_eq!(
        get(server.addr, "/api/record/zendesk/no-such-id").status,
        404
    );

    let t = get(server.addr, "/api/themes");
    assert_eq!(t.status, 200);
    let t = t.json();
    let ranked = t["summary"]["themes"].as_array().expect("ranked themes");
    assert!(ranked.len() > 10);
    assert_eq!(ranked[0]["rank"], 1);
    assert!(t["taxonomy"].as_array().is_some_and(|x| x.len() > 40));
    // The same themes and unmapped complaints as the run's summary.json
    // (discovery from the phrase tables the run cached beside the index).
    let report = index().parent().expect("dir").join("report/summary.json");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(report).expect("summary.json"))
            .expect("json");
    assert_eq!(t["summary"]["unmapped"], written["unmapped"]);
    assert!(!written["unmapped"].as_array().expect("unmapped").is_empty());
    assert_eq!(t["summary"]["themes"], written["themes"]);
}

#[test]
fn bad_requests_get_4xx_and_the_server_stays_up() {
    let server = Server::start();
    let a = server.addr;
    let long_q = "a".repeat(1001);
    for path in [
        "/api/search?limit=501".to_string(),
        "/api/search?limit=0".to_string(),
        "/api/search?limit=ten".to_string(),
        format!("/api/search?q={long_q}"),
        "/api/search?q=%22unclosed".to_string(),
        "/api/search?theme=no.such".to_string(),
        "/api/search?sentiment=angry".to_string(),
        "/api/search?since=yesterday".to_string(),
        "/api/search?min_rating=high".to_string(),
        "/api/search?sort=random".to_string(),
    ] {
        let r = get(a, &path);
        assert_eq!(r.status, 400, "{path}");
        assert!(
            r.json()["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}"
        );
    }
    // Numbers and dates out of range, text that is not UTF-8, values too long.
    for path in [
        "/api/search?limit=99999999999999999999999".to_string(),
        "/api/search?offset=10001".to_string(),
        "/api/search?offset=-5".to_string(),
        "/api/search?offset=99999999999999999999999".to_string(),
        "/api/search?limit=-1".to_string(),
        "/api/search?limit=1e3".to_string(),
        "/api/search?min_rating=1e309".to_string(),
        "/api/search?max_rating=-inf".to_string(),
        "/api/search?since=2026-13-45".to_string(),
        "/api/search?until=99999999999999999999".to_string(),
        "/api/search?q=%FF%FE".to_string(),
        "/api/search?theme=%C3%28".to_string(),
        format!("/api/search?source={}", "s".repeat(201)),
        format!("/api/search?tag={}", "t,".repeat(101)),
        format!("/api/search?q={}", "退".repeat(1001)),
    ] {
        let r = get(a, &path);
        assert_eq!(r.status, 400, "{path}");
    }
    // Odd query syntax: a clear 400 or a result, never a server error.
    for q in [
        "*",
        "title:",
        ":",
        "\"",
        "((",
        ")",
        "AND",
        "OR OR",
        "-",
        "+",
        "^2",
        "refund^",
        "refund~",
        "text:[a TO z]",
        "created:>2026",
        "rating:[1 TO",
        "theme:x",
        "nosuch:field",
        "%00",
        "%F0%9F%98%80",
        "a%20AND%20NOT%20b",
        "IN [a b]",
        "\\",
    ] {
        let r = get(
            a,
            &format!(
                "/api/search?q={}",
                q.replace(' ', "%20").replace('"', "%22")
            ),
        );
        assert!(
            r.status == 200 || r.status == 400,
            "q={q}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    // Record keys: too long, not UTF-8, missing parts.
    assert_eq!(
        get(a, &format!("/api/record/web/{}", "i".repeat(501))).status,
        400
    );
    assert_eq!(get(a, "/api/record/web/%FF").status, 400);
    assert_eq!(get(a, "/api/record/web").status, 404);
    assert_eq!(get(a, "/nope").status, 404);
    assert_eq!(get(a, "/api/search/extra").status, 404);
    assert_eq!(http("POST", a, "/api/search").status, 405);
    // A huge URL, a malformed request line, and a body too big: 4xx or closed.
    let huge = format!("/api/search?q={}", "x".repeat(200_000));
    if let Some(r) = raw(
        a,
        format!("GET {huge} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    ) {
        assert!((400..500).contains(&r.status), "{}", r.status);
    }
    if let Some(r) = raw(a, b"NONSENSE\r\n\r\n") {
        assert!((400..500).contains(&r.status), "{}", r.status);
    }
    let body = "x".repeat(10_000);
    let r = raw(
        a,
        format!(
            "POST /api/search HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    if let Some(r) = r {
        assert!((400..500).contains(&r.status), "{}", r.status);
    }
    // Still serving.
    assert_eq!(get(a, "/api/search?q=refund").status, 200);
}

/// A run with a new user dictionary while serve is up re-tokenizes the
/// index: serve, whose jieba was set up at start, says to restart it
/// instead of splitting queries the old way and silently missing.
#[test]
fn a_changed_user_dictionary_asks_for_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let index = dir.path().join("index");
    let export = dir.path().join("in.jsonl");
    std::fs::write(&export, "{\"id\":\"1\",\"text\":\"悦享卡扣费了两次\"}\n").expect("write");
    let dict = dir.path().join("products.txt");
    std::fs::write(&dict, "悦享卡\n").expect("write");
    let run = |extra: &[&Path]| {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("vocscope"));
        cmd.args(["run", "--quiet", "--index"])
            .arg(&index)
            .arg("--out")
            .arg(dir.path().join("report"))
            .arg(&export);
        for p in extra {
            cmd.arg("--user-dict").arg(p);
        }
        assert!(cmd.status().expect("vocscope run").success());
    };
    // 扣费 (charged), URL-encoded.
    let query = "/api/search?q=%E6%89%A3%E8%B4%B9";
    run(&[]);
    let server = Server::start_on(&index);
    assert_eq!(get(server.addr, query).status, 200);
    run(&[&dict]);
    let refused = get(server.addr, query);
    assert_eq!(refused.status, 503);
    let message = refused.json()["error"].to_string();
    assert!(message.contains("restart"), "{message}");
    // Restarted, it splits queries with the new dictionary: 扣费 is a word now.
    drop(server);
    let server = Server::start_on(&index);
    let hits = get(server.addr, query);
    assert_eq!(hits.status, 200);
    assert_eq!(hits.json()["total"], 1, "{}", hits.json());
}

#[test]
fn hostile_text_comes_back_as_data() {
    let server = Server::start();
    let v = get(server.addr, "/api/search?q=zzxssmarker").json();
    assert_eq!(v["total"], 1);
    let hit = &v["hits"][0];
    assert_eq!(hit["title"], "<b>bold</b> refund");
    let snippet: String = hit["snippet_parts"]
        .as_array()
        .expect("parts")
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect();
    // Ingest turns HTML bodies into plain text; the title is kept verbatim.
    assert!(
        snippet.contains("zzxssmarker") && !snippet.contains("<img"),
        "{snippet}"
    );
    let r = get(server.addr, "/api/record/web/xss-1");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.contains("application/json")));
}

#[test]
fn export_downloads_every_match_as_csv_and_xlsx() {
    use calamine::{Data, Reader, Xlsx};

    let server = Server::start();
    let total = get(server.addr, "/api/search?q=refund&lang=en&limit=1").json()["total"]
        .as_u64()
        .expect("total");
    assert!(total > 20, "{total}");

    // CSV: a download with a BOM for Excel, every match (limit is ignored).
    let r = get(
        server.addr,
        "/api/export?format=csv&q=refund&lang=en&limit=3",
    );
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/csv")));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"vocscope-search.csv\"")
    );
    let body = r
        .body
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .expect("a BOM");
    let mut reader = csv::Reader::from_reader(body);
    let headers = reader.headers().expect("header").clone();
    assert_eq!(&headers[0], "id");
    let lang = headers.iter().position(|h| h == "lang").expect("lang");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len() as u64, total);
    assert!(rows.iter().all(|r| &r[lang] == "en"));

    // Formula-like text is neutralised in both formats.
    let r = get(server.addr, "/api/export?q=zzformulamarker");
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert!(
        text.contains("'=HYPERLINK") && text.contains("'=1+2"),
        "{text}"
    );

    // XLSX: Results with the same rows, and a Query sheet saying what was searched.
    let r = get(server.addr, "/api/export?format=xlsx&q=refund&lang=en");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.contains("spreadsheetml")));
    let mut book: Xlsx<_> =
        Xlsx::new(std::io::Cursor::new(r.body.clone())).expect("an xlsx workbook");
    let results = book.worksheet_range("Results").expect("Results sheet");
    assert_eq!(results.height() as u64, total + 1);
    assert_eq!(results.get((0, 0)), Some(&Data::String("id".into())));
    let query = book.worksheet_range("Query").expect("Query sheet");
    let cells: Vec<String> = query.cells().map(|(_, _, c)| c.to_string()).collect();
    assert!(cells.iter().any(|c| c == "refund") && cells.iter().any(|c| c == "en"));
    let r = get(server.addr, "/api/export?format=xlsx&q=zzformulamarker");
    let mut book: Xlsx<_> = Xlsx::new(std::io::Cursor::new(r.body.clone())).expect("xlsx");
    let results = book.worksheet_range("Results").expect("Results sheet");
    assert!(results
        .cells()
        .all(|(_, _, c)| !matches!(c, Data::String(s) if s.starts_with('='))));
    assert!(results
        .cells()
        .any(|(_, _, c)| matches!(c, Data::String(s) if s.starts_with("'=HYPERLINK"))));

    // Bad parameters are the page's 400s.
    assert_eq!(get(server.addr, "/api/export?format=pdf").status, 400);
    assert_eq!(get(server.addr, "/api/export?q=%22unclosed").status, 400);
}

// ---------------------------------------------------------------------------
// End to end in headless Chromium.

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A WebDriver session on chromedriver.
struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Browser {
    fn start(chromium: &str, chromedriver: &str) -> Browser {
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let ready = raw(
                addr,
                format!("GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .map(|r| r.json()["value"]["ready"] == true);
            if ready == Some(true) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1400,1000".into(),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args}
        }}});
        let v = browser.call("POST", "/session", &caps);
        browser.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        browser
    }

    /// One WebDriver command; `Value::Null` sends no body (a GET with a body
    /// is rejected by chromedriver as "invalid argument"). A WebDriver error
    /// fails the test with chromedriver's message.
    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let content = if body.is_empty() {
            String::new()
        } else {
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            )
        };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{content}Connection: close\r\n\r\n{body}",
            self.addr
        );
        let r = raw(self.addr, request.as_bytes()).expect("chromedriver response");
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        assert!(
            r.status < 400,
            "WebDriver {method} {path} failed with {}: {}",
            r.status,
            v["value"]
        );
        v["value"].clone()
    }

    fn session(&self, method: &str, path: &str, body: Value) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), &body)
    }

    /// Evaluates JavaScript in the page.
    fn js(&self, script: &str) -> Value {
        self.session(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    /// Waits until `script` returns true.
    fn wait(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.js(script) == Value::Bool(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}");
    }

    fn find(&self, css: &str) -> String {
        let v = self.session(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        self.session("POST", &format!("/element/{id}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.session(
            "POST",
            &format!("/element/{id}/value"),
            json!({"text": text}),
        );
    }

    fn screenshot(&self, path: &Path) {
        let v = self.session("GET", "/screenshot", Value::Null);
        let png = base64_decode(v.as_str().expect("screenshot data"));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.session, self.addr
            );
            let _ = raw(self.addr, request.as_bytes());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn which(names: &[&str]) -> Option<String> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate.display().to_string());
            }
        }
    }
    None
}

#[test]
fn e2e_chromium_search_click_facet_open_record_screenshot() {
    let Some(chromium) = which(&["chromium", "chromium-browser", "google-chrome"]) else {
        eprintln!("NOTICE: chromium not installed: skipping the browser test (CI installs it)");
        return;
    };
    // With chromium present the test runs: a missing driver is a failure.
    let driver = which(&["chromedriver"]).unwrap_or_else(|| {
        panic!("chromium is installed but chromedriver is not: install Debian's chromium-driver")
    });
    // Debian's /usr/bin/chromium is a wrapper script; chromedriver wants the binary.
    let chromium = ["/usr/lib/chromium/chromium"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .map(str::to_string)
        .unwrap_or(chromium);
    let server = Server::start();
    let browser = Browser::start(&chromium, &driver);
    browser.session("POST", "/url", json!({"url": server.url()}));
    browser.wait(
        "the first results",
        "return document.querySelectorAll('.hit').length > 0",
    );

    // More than a page of records: "Show more" adds the next page.
    browser.click("#more");
    browser.wait(
        "the second page",
        "return document.querySelectorAll('.hit').length === 100 && \
         document.getElementById('status').textContent.includes('showing 100')",
    );

    // Type a query.
    browser.type_into("#q", "refund");
    browser.click("button.primary");
    browser.wait(
        "results for refund",
        "return location.hash.includes('q=refund') && document.querySelectorAll('.hit').length > 0 \
         && document.getElementById('status').textContent.includes('matching')",
    );
    let before = browser.js("return document.getElementById('status').textContent");

    // Click the first theme facet that is a leaf (narrows the results).
    let facet = browser
        .js("const b = document.querySelector('.facet.child'); return b ? b.dataset.theme : null");
    let theme = facet.as_str().expect("a theme facet").to_string();
    browser.click(".facet.child");
    browser.wait(
        "the facet filter",
        &format!(
            "return document.getElementById('f-theme').value === '{theme}' && \
             document.querySelector('.facet.on') !== null && \
             document.getElementById('status').textContent !== {before}"
        ),
    );
    let hits_ok = browser.js(&format!(
        "return [...document.querySelectorAll('.hit')].length > 0 && location.hash.includes('theme={theme}')"
    ));
    assert_eq!(hits_ok, Value::Bool(true));

    // Open a record.
    browser.click(".hit");
    browser.wait(
        "the record view",
        "const t = document.getElementById('record-title'); \
         return document.getElementById('record').classList.contains('open') && t !== null && t.textContent.length > 0",
    );
    let cues = browser.js("return document.querySelectorAll('#record .cue').length");
    assert!(cues.as_u64().unwrap_or(0) > 0, "matched cues shown: {cues}");
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-e2e.png");
    browser.screenshot(&shot);
    eprintln!("screenshot: {}", shot.display());

    // Hostile text is shown as text, never run.
    browser.click("#record-close");
    browser.js("document.getElementById('f-theme').value = ''; return true");
    browser.session(
        "POST",
        &format!("/element/{}/clear", browser.find("#q")),
        json!({}),
    );
    browser.type_into("#q", "zzxssmarker");
    browser.click("button.primary");
    browser.wait(
        "the hostile record",
        "return document.querySelectorAll('.hit').length === 1 && location.hash.includes('zzxssmarker')",
    );
    browser.click(".hit");
    browser.wait(
        "the hostile record view",
        "const t = document.getElementById('record-title'); \
         return t !== null && t.textContent.includes('bold') && document.querySelector('#record .text') !== null",
    );
    // Ingest turns the HTML body into plain text; the title keeps its markup
    // verbatim, and the page must show it as characters, not as a <b> element.
    let safe = browser.js(
        "return window.__pwned === undefined && document.querySelectorAll('#results img, #results script, #results b, #record img, #record b, #record-body script').length === 0 \
         && document.querySelector('.hit .title').textContent === '<b>bold</b> refund' \
         && document.getElementById('record-title').textContent === '<b>bold</b> refund' \
         && document.querySelector('#record .text').textContent.includes('zzxssmarker')",
    );
    assert_eq!(safe, Value::Bool(true), "hostile text must stay text");
    let themes_shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-e2e-themes.png");
    browser.click("#record-close");
    browser.click("#tab-themes");
    browser.wait(
        "the themes table",
        "return document.querySelectorAll('#themes-body tr').length > 10",
    );
    browser.screenshot(&themes_shot);
    // A theme link leads into search.
    browser.click("#themes-body a");
    browser.wait(
        "search by theme",
        "return !document.getElementById('view-search').classList.contains('hidden') && \
         document.getElementById('f-theme').value !== '' && document.querySelectorAll('.hit').length > 0",
    );
}
