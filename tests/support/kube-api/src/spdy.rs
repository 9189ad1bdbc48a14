//! The server side of SPDY/3.1 as `kubectl port-forward` speaks it (through
//! `github.com/moby/spdystream`, SPDY/3 of draft-mbelshe-httpbis-spdy-00):
//!
//! * frames: a control frame is `1 | version 3 (15 bits) | type (16)`, `flags (8) | length
//!   (24)`, payload; a data frame is `0 | stream id (31)`, `flags (8) | length (24)`, data.
//!   Flag `0x01` is FIN on both.
//! * header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are `u32 count`, then `(u32 length, name,
//!   u32 length, value)*`, compressed as ONE zlib stream per direction (the SPDY/3 dictionary
//!   preset, a sync flush ending every frame's block) — so a [`HeaderReader`] and a
//!   [`HeaderWriter`] live as long as the connection.
//! * [`serve`] runs a connection: it answers every SYN_STREAM with an empty SYN_REPLY (the
//!   peer's `CreateStream` waits for it), echoes the peer's PINGs, routes DATA to the stream's
//!   [`Stream::incoming`] (closed on FIN or RST_STREAM) and hands each new stream to the
//!   caller. spdystream implements no flow control (it neither sends nor honours
//!   WINDOW_UPDATE), so WINDOW_UPDATE and SETTINGS are read and ignored, and none are sent.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::collections::HashMap;
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Header names and values of a stream, in the order sent.
pub(crate) type Headers = Vec<(String, String)>;

const VERSION: u16 = 3;
const FLAG_FIN: u8 = 0x01;
const SYN_STREAM: u16 = 1;
const SYN_REPLY: u16 = 2;
const RST_STREAM: u16 = 3;
const PING: u16 = 6;
const GOAWAY: u16 = 7;
const HEADERS: u16 = 8;
/// The largest frame the server accepts (spdystream writes data frames of at most 32 KiB).
const MAX_FRAME: usize = 1 << 24;

/// One SPDY/3 frame, header blocks decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    Data {
        stream: u32,
        fin: bool,
        data: Vec<u8>,
    },
    SynStream {
        stream: u32,
        fin: bool,
        headers: Headers,
    },
    SynReply {
        stream: u32,
        fin: bool,
        headers: Headers,
    },
    RstStream {
        stream: u32,
        status: u32,
    },
    Ping(u32),
    GoAway {
        last: u32,
        status: u32,
    },
    Headers {
        stream: u32,
        fin: bool,
        headers: Headers,
    },
    /// SETTINGS, WINDOW_UPDATE and any other control frame: read, ignored.
    Ignored {
        kind: u16,
    },
}

/// The SPDY/3 header dictionary (spec §2.6.10.1): these names, each behind its length as a
/// big-endian u32, then [`DICTIONARY_TAIL`].
const DICTIONARY_WORDS: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];
const DICTIONARY_TAIL: &str = "100101201202205206300302303304305306307402405406407408409410\
411412413414415416417502504505203 Non-Authoritative Information204 No Content301 Moved \
Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server \
Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov \
Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,\
image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivate\
max-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

/// The 1423 bytes of the SPDY/3 header dictionary.
pub(crate) fn dictionary() -> Vec<u8> {
    let mut dict = Vec::with_capacity(1423);
    for word in DICTIONARY_WORDS {
        dict.extend_from_slice(&(word.len() as u32).to_be_bytes());
        dict.extend_from_slice(word.as_bytes());
    }
    dict.extend_from_slice(DICTIONARY_TAIL.as_bytes());
    dict
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Inflates the peer's header blocks: one zlib stream for the whole connection.
pub(crate) struct HeaderReader {
    inflate: Decompress,
}

impl HeaderReader {
    pub(crate) fn new() -> HeaderReader {
        HeaderReader {
            inflate: Decompress::new(true),
        }
    }

    /// The header block of one frame (`block`: its compressed bytes, all of them).
    fn read(&mut self, block: &[u8]) -> io::Result<Headers> {
        let mut plain = Vec::with_capacity(block.len() * 4 + 256);
        let start = self.inflate.total_in();
        loop {
            let used = (self.inflate.total_in() - start) as usize;
            let produced = plain.len();
            plain.reserve(256);
            match self
                .inflate
                .decompress_vec(&block[used..], &mut plain, FlushDecompress::Sync)
            {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {
                    let now = (self.inflate.total_in() - start) as usize;
                    let progress = now > used || plain.len() > produced;
                    if now >= block.len() && (plain.len() < plain.capacity() || !progress) {
                        break;
                    }
                    if !progress {
                        return Err(invalid("SPDY header block: truncated"));
                    }
                }
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(&dictionary())
                        .map_err(|e| invalid(format!("SPDY header dictionary: {e}")))?;
                }
                Err(e) => return Err(invalid(format!("SPDY header block: {e}"))),
            }
        }
        parse_header_block(&plain)
    }
}

/// Deflates the server's header blocks: one zlib stream, the SPDY/3 dictionary preset.
pub(crate) struct HeaderWriter {
    deflate: Compress,
}

impl HeaderWriter {
    pub(crate) fn new() -> io::Result<HeaderWriter> {
        let mut deflate = Compress::new(Compression::best(), true);
        deflate
            .set_dictionary(&dictionary())
            .map_err(|e| invalid(format!("SPDY header dictionary: {e}")))?;
        Ok(HeaderWriter { deflate })
    }

    fn write(&mut self, headers: &Headers) -> io::Result<Vec<u8>> {
        let plain = header_block(headers);
        let mut out = Vec::with_capacity(plain.len() + 64);
        let start = self.deflate.total_in();
        loop {
            let used = (self.deflate.total_in() - start) as usize;
            out.reserve(64);
            self.deflate
                .compress_vec(&plain[used..], &mut out, FlushCompress::Sync)
                .map_err(|e| invalid(format!("SPDY header block: {e}")))?;
            // A sync flush is complete once the input is used and the output not full.
            if (self.deflate.total_in() - start) as usize == plain.len()
                && out.len() < out.capacity()
            {
                return Ok(out);
            }
        }
    }
}

/// `u32 count`, then `(u32 length, name, u32 length, value)*`, uncompressed.
fn header_block(headers: &Headers) -> Vec<u8> {
    let mut block = (headers.len() as u32).to_be_bytes().to_vec();
    for (name, value) in headers {
        for text in [name, value] {
            block.extend_from_slice(&(text.len() as u32).to_be_bytes());
            block.extend_from_slice(text.as_bytes());
        }
    }
    block
}

fn parse_header_block(mut block: &[u8]) -> io::Result<Headers> {
    let mut take = |n: usize| -> io::Result<&[u8]> {
        if block.len() < n {
            return Err(invalid("SPDY header block ends early"));
        }
        let (head, rest) = block.split_at(n);
        block = rest;
        Ok(head)
    };
    let u32_of = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let count = u32_of(take(4)?);
    let mut headers = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let len = u32_of(take(4)?);
        let name = String::from_utf8_lossy(take(len)?).into_owned();
        let len = u32_of(take(4)?);
        let value = String::from_utf8_lossy(take(len)?).into_owned();
        headers.push((name, value));
    }
    Ok(headers)
}

fn u32_at(payload: &[u8], at: usize) -> io::Result<u32> {
    payload
        .get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| invalid("SPDY control frame too short"))
}

/// Decodes one frame from its 8-byte head and its payload.
pub(crate) fn decode(
    head: [u8; 8],
    payload: Vec<u8>,
    headers: &mut HeaderReader,
) -> io::Result<Frame> {
    let flags = head[4];
    let fin = flags & FLAG_FIN != 0;
    if head[0] & 0x80 == 0 {
        let stream = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        return Ok(Frame::Data {
            stream,
            fin,
            data: payload,
        });
    }
    let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
    if version != VERSION {
        return Err(invalid(format!("SPDY version {version}, not {VERSION}")));
    }
    let kind = u16::from_be_bytes([head[2], head[3]]);
    let stream = || u32_at(&payload, 0).map(|s| s & 0x7fff_ffff);
    Ok(match kind {
        SYN_STREAM => Frame::SynStream {
            stream: stream()?,
            fin,
            headers: headers.read(
                payload
                    .get(10..)
                    .ok_or_else(|| invalid("short SYN_STREAM"))?,
            )?,
        },
        SYN_REPLY | HEADERS => {
            let (stream, block) = (stream()?, headers.read(&payload[4..])?);
            if kind == SYN_REPLY {
                Frame::SynReply {
                    stream,
                    fin,
                    headers: block,
                }
            } else {
                Frame::Headers {
                    stream,
                    fin,
                    headers: block,
                }
            }
        }
        RST_STREAM => Frame::RstStream {
            stream: stream()?,
            status: u32_at(&payload, 4)?,
        },
        PING => Frame::Ping(u32_at(&payload, 0)?),
        GOAWAY => Frame::GoAway {
            last: stream()?,
            status: u32_at(&payload, 4)?,
        },
        kind => Frame::Ignored { kind },
    })
}

/// Encodes one frame (header blocks through `headers`, in the order frames are written).
pub(crate) fn encode(frame: &Frame, headers: &mut HeaderWriter) -> io::Result<Vec<u8>> {
    let control = |kind: u16, flags: u8, payload: Vec<u8>| {
        let mut out = Vec::with_capacity(8 + payload.len());
        out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&((u32::from(flags) << 24) | payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&payload);
        out
    };
    let words = |values: &[u32]| {
        values
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect::<Vec<u8>>()
    };
    let flag = |fin: bool| if fin { FLAG_FIN } else { 0 };
    Ok(match frame {
        Frame::Data { stream, fin, data } => {
            let mut out = words(&[
                stream & 0x7fff_ffff,
                (u32::from(flag(*fin)) << 24) | data.len() as u32,
            ]);
            out.extend_from_slice(data);
            out
        }
        Frame::SynStream {
            stream,
            fin,
            headers: h,
        } => {
            let mut payload = words(&[*stream, 0]);
            payload.extend_from_slice(&[0, 0]);
            payload.extend(headers.write(h)?);
            control(SYN_STREAM, flag(*fin), payload)
        }
        Frame::SynReply {
            stream,
            fin,
            headers: h,
        }
        | Frame::Headers {
            stream,
            fin,
            headers: h,
        } => {
            let kind = if matches!(frame, Frame::SynReply { .. }) {
                SYN_REPLY
            } else {
                HEADERS
            };
            let mut payload = words(&[*stream]);
            payload.extend(headers.write(h)?);
            control(kind, flag(*fin), payload)
        }
        Frame::RstStream { stream, status } => control(RST_STREAM, 0, words(&[*stream, *status])),
        Frame::Ping(id) => control(PING, 0, words(&[*id])),
        Frame::GoAway { last, status } => control(GOAWAY, 0, words(&[*last, *status])),
        Frame::Ignored { kind } => {
            return Err(invalid(format!("cannot encode control frame type {kind}")));
        }
    })
}

/// Reads one frame; `None` at a clean end of the connection.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    read: &mut R,
    headers: &mut HeaderReader,
) -> io::Result<Option<Frame>> {
    let mut head = [0u8; 8];
    match read.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let length = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
    if length >= MAX_FRAME {
        return Err(invalid(format!("SPDY frame of {length} bytes")));
    }
    let mut payload = vec![0u8; length];
    read.read_exact(&mut payload).await?;
    decode(head, payload, headers).map(Some)
}

/// A stream the peer opened (and the server already answered with SYN_REPLY).
pub(crate) struct Stream {
    pub id: u32,
    pub headers: Headers,
    /// The peer's data on this stream; closed at its FIN or RST_STREAM.
    pub incoming: mpsc::UnboundedReceiver<Vec<u8>>,
    pub out: StreamWriter,
}

impl Stream {
    /// The value of header `name` (SPDY/3 names are lowercase on the wire).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Writes data frames on one stream.
#[derive(Clone)]
pub(crate) struct StreamWriter {
    id: u32,
    frames: mpsc::Sender<Frame>,
}

impl StreamWriter {
    /// Sends `data` (in frames of at most 32 KiB); false when the connection is gone.
    pub(crate) async fn data(&self, data: &[u8]) -> bool {
        for chunk in data.chunks(32 * 1024) {
            let frame = Frame::Data {
                stream: self.id,
                fin: false,
                data: chunk.to_vec(),
            };
            if self.frames.send(frame).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Half-closes the stream (an empty data frame with FIN, as spdystream's `Close`).
    pub(crate) async fn finish(&self) {
        let frame = Frame::Data {
            stream: self.id,
            fin: true,
            data: Vec::new(),
        };
        let _ = self.frames.send(frame).await;
    }
}

/// Serves one SPDY/3.1 connection until the peer ends it; `on_stream` gets each stream the
/// peer opens, already replied to.
pub(crate) async fn serve<IO>(io: IO, mut on_stream: impl FnMut(Stream)) -> io::Result<()>
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut read, write) = tokio::io::split(io);
    let (frames, outgoing) = mpsc::channel::<Frame>(64);
    let writer = tokio::spawn(write_frames(write, outgoing, HeaderWriter::new()?));
    let mut inflate = HeaderReader::new();
    let mut streams: HashMap<u32, mpsc::UnboundedSender<Vec<u8>>> = HashMap::new();
    let result = loop {
        let frame = match read_frame(&mut read, &mut inflate).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        match frame {
            Frame::SynStream {
                stream,
                fin,
                headers,
            } => {
                let reply = Frame::SynReply {
                    stream,
                    fin: false,
                    headers: Vec::new(),
                };
                if frames.send(reply).await.is_err() {
                    break Ok(());
                }
                let (to_stream, incoming) = mpsc::unbounded_channel();
                if !fin {
                    streams.insert(stream, to_stream);
                }
                let out = StreamWriter {
                    id: stream,
                    frames: frames.clone(),
                };
                on_stream(Stream {
                    id: stream,
                    headers,
                    incoming,
                    out,
                });
            }
            Frame::Data { stream, fin, data } => {
                if let Some(to_stream) = streams.get(&stream)
                    && !data.is_empty()
                {
                    let _ = to_stream.send(data);
                }
                if fin {
                    streams.remove(&stream);
                }
            }
            Frame::RstStream { stream, .. } => {
                streams.remove(&stream);
            }
            // Client PINGs have odd ids; answer them (ours would be even, and we send none).
            Frame::Ping(id) if id % 2 == 1 => {
                let answered = frames.send(Frame::Ping(id)).await.is_ok();
                if !answered {
                    break Ok(());
                }
            }
            Frame::GoAway { .. } => break Ok(()),
            _ => {}
        }
    };
    drop(streams);
    drop(frames);
    let _ = writer.await;
    result
}

async fn write_frames<W: AsyncWrite + Unpin>(
    mut write: W,
    mut outgoing: mpsc::Receiver<Frame>,
    mut headers: HeaderWriter,
) {
    while let Some(frame) = outgoing.recv().await {
        let Ok(bytes) = encode(&frame, &mut headers) else {
            break;
        };
        if write.write_all(&bytes).await.is_err() || write.flush().await.is_err() {
            break;
        }
    }
    let _ = write.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dictionary_is_the_specs() {
        let dict = dictionary();
        assert_eq!(dict.len(), 1423);
        assert_eq!(&dict[..11], b"\0\0\0\x07options");
        assert!(dict.ends_with(b",*,enq=0."));
    }

    /// A SYN_STREAM as spdystream writes it for kubectl's error stream: stream 1, headers
    /// `port: 8080`, `requestid: 0`, `streamtype: error`, compressed with the dictionary.
    fn syn_stream_bytes(writer: &mut HeaderWriter) -> Vec<u8> {
        let headers: Headers = [
            ("port", "8080"),
            ("requestid", "0"),
            ("streamtype", "error"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        let block = writer.write(&headers).unwrap();
        let mut frame = vec![0x80, 0x03, 0x00, 0x01, 0x00];
        let length = (10 + block.len()) as u32;
        frame.extend_from_slice(&length.to_be_bytes()[1..]);
        frame.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        frame.extend_from_slice(&block);
        frame
    }

    fn split(bytes: &[u8]) -> ([u8; 8], Vec<u8>) {
        let mut head = [0u8; 8];
        head.copy_from_slice(&bytes[..8]);
        (head, bytes[8..].to_vec())
    }

    #[test]
    fn hand_built_frames_decode() {
        let mut writer = HeaderWriter::new().unwrap();
        let mut reader = HeaderReader::new();
        let bytes = syn_stream_bytes(&mut writer);
        // The zlib header announces a preset dictionary (FDICT) with the dictionary's adler32.
        assert_eq!(bytes[18] & 0x0f, 8);
        assert_ne!(bytes[19] & 0x20, 0);
        let (head, payload) = split(&bytes);
        let frame = decode(head, payload, &mut reader).unwrap();
        let Frame::SynStream {
            stream: 1,
            fin: false,
            headers,
        } = frame
        else {
            panic!("{frame:?}");
        };
        assert_eq!(headers[2], ("streamtype".to_string(), "error".to_string()));
        // The second block continues the same zlib stream (no new zlib header).
        let bytes = syn_stream_bytes(&mut writer);
        assert_eq!(&bytes[8..12], &[0, 0, 0, 1]);
        let (head, payload) = split(&bytes);
        assert!(matches!(
            decode(head, payload, &mut reader).unwrap(),
            Frame::SynStream { .. }
        ));
        // A data frame with FIN, a PING, a RST_STREAM.
        let (head, payload) = split(&[0, 0, 0, 3, 1, 0, 0, 2, b'h', b'i']);
        assert_eq!(
            decode(head, payload, &mut reader).unwrap(),
            Frame::Data {
                stream: 3,
                fin: true,
                data: b"hi".to_vec()
            }
        );
        let (head, payload) = split(&[0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 7]);
        assert_eq!(decode(head, payload, &mut reader).unwrap(), Frame::Ping(7));
        let (head, payload) = split(&[0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 5, 0, 0, 0, 5]);
        assert_eq!(
            decode(head, payload, &mut reader).unwrap(),
            Frame::RstStream {
                stream: 5,
                status: 5
            }
        );
    }

    #[test]
    fn frames_round_trip_through_one_zlib_stream_per_direction() {
        let mut writer = HeaderWriter::new().unwrap();
        let mut reader = HeaderReader::new();
        let frames = [
            Frame::SynReply {
                stream: 1,
                fin: false,
                headers: Vec::new(),
            },
            Frame::SynReply {
                stream: 3,
                fin: false,
                headers: vec![("a".into(), "b".into())],
            },
            Frame::Data {
                stream: 3,
                fin: false,
                data: vec![7; 40_000],
            },
            Frame::Data {
                stream: 3,
                fin: true,
                data: Vec::new(),
            },
            Frame::Ping(9),
            Frame::GoAway { last: 3, status: 0 },
        ];
        for frame in frames {
            let bytes = encode(&frame, &mut writer).unwrap();
            let (head, payload) = split(&bytes);
            assert_eq!(decode(head, payload, &mut reader).unwrap(), frame);
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut reader = HeaderReader::new();
        let (head, payload) = split(&[0x80, 2, 0, 1, 0, 0, 0, 0]);
        assert!(decode(head, payload, &mut reader).is_err());
        let (head, payload) = split(&[
            0x80, 3, 0, 1, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2,
        ]);
        assert!(decode(head, payload, &mut reader).is_err());
        let (head, payload) = split(&[0x80, 3, 0, 6, 0, 0, 0, 2, 0, 0]);
        assert!(decode(head, payload, &mut reader).is_err());
    }

    #[tokio::test]
    async fn a_connection_replies_routes_data_and_answers_pings() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (opened, mut streams) = mpsc::unbounded_channel();
        let served = tokio::spawn(serve(server, move |stream| {
            let _ = opened.send(stream);
        }));
        let (mut read, mut write) = tokio::io::split(client);
        let (mut deflate, mut inflate) = (HeaderWriter::new().unwrap(), HeaderReader::new());
        let headers = vec![
            ("streamtype".into(), "data".into()),
            ("port".into(), "8080".into()),
        ];
        let frames = [
            Frame::SynStream {
                stream: 1,
                fin: false,
                headers,
            },
            Frame::Data {
                stream: 1,
                fin: true,
                data: b"GET /".to_vec(),
            },
        ];
        for frame in &frames {
            let bytes = encode(frame, &mut deflate).unwrap();
            write.write_all(&bytes).await.unwrap();
        }
        let reply = read_frame(&mut read, &mut inflate).await.unwrap();
        let empty = Vec::new();
        assert_eq!(
            reply,
            Some(Frame::SynReply {
                stream: 1,
                fin: false,
                headers: empty
            })
        );
        let mut stream = streams.recv().await.unwrap();
        assert_eq!((stream.id, stream.header("Port")), (1, Some("8080")));
        assert_eq!(stream.incoming.recv().await, Some(b"GET /".to_vec()));
        assert_eq!(stream.incoming.recv().await, None, "closed at the FIN");
        stream.out.data(b"200").await;
        stream.out.finish().await;
        drop(stream);
        let answer = Frame::Data {
            stream: 1,
            fin: false,
            data: b"200".to_vec(),
        };
        assert_eq!(
            read_frame(&mut read, &mut inflate).await.unwrap(),
            Some(answer)
        );
        let fin = Frame::Data {
            stream: 1,
            fin: true,
            data: Vec::new(),
        };
        assert_eq!(
            read_frame(&mut read, &mut inflate).await.unwrap(),
            Some(fin)
        );
        // The client's (odd) PINGs come back; an even id would be the server's own, unanswered.
        for id in [2, 3] {
            let bytes = encode(&Frame::Ping(id), &mut deflate).unwrap();
            write.write_all(&bytes).await.unwrap();
        }
        assert_eq!(
            read_frame(&mut read, &mut inflate).await.unwrap(),
            Some(Frame::Ping(3))
        );
        let bytes = encode(&Frame::GoAway { last: 0, status: 0 }, &mut deflate).unwrap();
        write.write_all(&bytes).await.unwrap();
        served.await.unwrap().unwrap();
        assert_eq!(read_frame(&mut read, &mut inflate).await.unwrap(), None);
    }
}
