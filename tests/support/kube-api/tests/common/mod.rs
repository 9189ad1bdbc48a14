//! A tiny blocking HTTP/1.1 client for the tests (no extra dependencies).
#![allow(
    dead_code,
    reason = "included by several test binaries; each uses a different part, so an expect would be unfulfilled in some"
)]
#![expect(
    clippy::unwrap_used,
    clippy::too_many_arguments,
    reason = "tests fail loudly; the helpers mirror the object fields they build"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn connect(url: &str) -> TcpStream {
    let addr = url.trim_start_matches("http://");
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

fn write_req(
    s: &mut TcpStream,
    url: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    ct: Option<&str>,
    body: &str,
    extra: &[(&str, &str)],
) {
    let host = url.trim_start_matches("http://");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(c) = ct {
        req.push_str(&format!("Content-Type: {c}\r\n"));
    }
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
}

fn read_head(r: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    (status, headers)
}

pub fn request(
    url: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    ct: Option<&str>,
    body: &str,
) -> Resp {
    request_h(url, method, path, token, ct, body, &[])
}

pub fn request_h(
    url: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    ct: Option<&str>,
    body: &str,
    extra: &[(&str, &str)],
) -> Resp {
    let mut s = connect(url);
    write_req(&mut s, url, method, path, token, ct, body, extra);
    let mut r = BufReader::new(s);
    let (status, headers) = read_head(&mut r);
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut l = String::new();
            if r.read_line(&mut l).unwrap() == 0 {
                break;
            }
            let n = usize::from_str_radix(l.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            let mut buf = vec![0; n + 2];
            r.read_exact(&mut buf).unwrap();
            body.extend_from_slice(&buf[..n]);
        }
    } else {
        r.read_to_end(&mut body).unwrap();
    }
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Opens a watch and collects the JSON lines until the stream ends or `max` elapses.
/// Returns (status, headers, lines, ended_cleanly).
pub struct Watch {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    reader: BufReader<TcpStream>,
}

impl Watch {
    pub fn open(url: &str, path: &str, token: &str) -> Watch {
        let mut s = connect(url);
        write_req(&mut s, url, "GET", path, Some(token), None, "", &[]);
        let mut reader = BufReader::new(s);
        let (status, headers) = read_head(&mut reader);
        Watch {
            status,
            headers,
            reader,
        }
    }

    /// Next event line; `Ok(None)` on a clean end of stream, `Err(())` on a cut connection.
    pub fn next(&mut self, max: Duration) -> Result<Option<serde_json::Value>, String> {
        self.reader.get_ref().set_read_timeout(Some(max)).unwrap();
        let mut l = String::new();
        match self.reader.read_line(&mut l) {
            Ok(0) => return Err("eof without final chunk".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
        let n = usize::from_str_radix(l.trim(), 16)
            .map_err(|e| format!("bad chunk size {l:?}: {e}"))?;
        if n == 0 {
            return Ok(None);
        }
        let mut buf = vec![0; n + 2];
        self.reader
            .read_exact(&mut buf)
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(text.ends_with('\n'), "one event per chunk line: {text:?}");
        Ok(Some(serde_json::from_str(text.trim_end()).unwrap()))
    }

    pub fn collect_until(
        &mut self,
        deadline: Instant,
        mut stop: impl FnMut(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        while Instant::now() < deadline {
            match self.next(deadline - Instant::now()) {
                Ok(Some(ev)) => {
                    let s = stop(&ev);
                    out.push(ev);
                    if s {
                        break;
                    }
                }
                _ => break,
            }
        }
        out
    }
}
