//! The baresip phones of the real-peers tests, driven over ctrl_tcp, and
//! one call between two of them with audio both ways.

use super::MIN_TONE_FRAMES;
use super::audio::analyse_wav;
use super::wire::rtp_counts;
use super::{Lab, ROUTER_LAN, TALK, Tp, WAIT, host};
use std::collections::{BTreeSet, VecDeque};
use std::fs;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv6Addr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What a phone is: its name in messages, its namespace (a role of
/// [`Lab::ns`]), its user at the provider, its address (IPv4 or IPv6, as
/// baresip binds it), its tone, its account line, and lines of its own
/// for baresip's config after those of `peers/baresip.config`.
pub struct PhoneSpec {
    pub name: &'static str,
    pub role: char,
    pub user: &'static str,
    pub addr: &'static str,
    pub tone: u32,
    pub account: String,
    pub config: String,
    /// baresip's SIP trace (`-s`): every message it sends and receives in
    /// its log, also those over TLS.
    pub trace: bool,
}

impl PhoneSpec {
    /// A phone with no account yet.
    pub fn new(
        name: &'static str,
        role: char,
        user: &'static str,
        addr: &'static str,
        tone: u32,
    ) -> PhoneSpec {
        PhoneSpec {
            name,
            role,
            user,
            addr,
            tone,
            account: String::new(),
            config: String::new(),
            trace: false,
        }
    }

    /// With baresip's SIP trace in its log (`baresip -s`).
    pub fn sip_trace(mut self) -> PhoneSpec {
        self.trace = true;
        self
    }

    /// One more line of baresip's config (`sip_cafile /path/ca.pem`).
    pub fn config_line(mut self, line: &str) -> PhoneSpec {
        self.config.push_str(line);
        self.config.push('\n');
        self
    }

    /// One more parameter of the account (`mediaenc=srtp-mand`).
    pub fn account_param(mut self, param: &str) -> PhoneSpec {
        self.account.push(';');
        self.account.push_str(param);
        self
    }

    /// An account at the provider `domain` over `provider`, reached
    /// directly (the WAN phone).
    pub fn direct(mut self, domain: &str, provider: Tp) -> PhoneSpec {
        self.account = format!(
            "<sip:{}@{domain};transport={}>;regint=600;mwi=no;answermode=manual;\
             audio_codecs=pcmu",
            self.user,
            provider.name()
        );
        self
    }

    /// A LAN phone: an account at the provider `domain` over `provider`,
    /// sipnat as the outbound proxy over `phone`, at the router's LAN
    /// address of the phone's own network (10.77.1.1, or `::1` of the
    /// phone's IPv6 /64), port 5060 (5061 over TLS: `tls_listen_port`).
    pub fn via_sipnat(self, domain: &str, phone: Tp, provider: Tp) -> PhoneSpec {
        let router = match self.addr.parse::<IpAddr>() {
            Ok(IpAddr::V6(a)) => {
                let s = a.segments();
                let r = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 1);
                format!("[{r}]")
            }
            _ => host(ROUTER_LAN),
        };
        let mut spec = self.direct(domain, provider);
        spec.account.push_str(&format!(
            ";outbound=\"sip:{router}:{};transport={}\"",
            phone.port(),
            phone.name()
        ));
        spec
    }
}

/// One message from baresip's ctrl_tcp: a JSON object, kept as text.
#[derive(Debug, Clone)]
pub struct Msg(pub String);

impl Msg {
    pub fn field(&self, key: &str) -> Option<String> {
        json_field(&self.0, key)
    }
    pub fn is_event(&self, kind: &str) -> bool {
        self.field("event").as_deref() == Some("true")
            && self.field("type").as_deref() == Some(kind)
    }
}

/// A baresip phone, driven over its ctrl_tcp socket.
pub struct Phone {
    pub name: &'static str,
    pub user: &'static str,
    pub tone: u32,
    snd: PathBuf,
    ctrl: TcpStream,
    buf: Vec<u8>,
    msgs: VecDeque<Msg>,
    token: u32,
}

impl Phone {
    /// The phone of `spec`, recording into `snd`, its ctrl_tcp connection
    /// `ctrl` ([`Lab::phone`] starts it).
    pub fn new(spec: PhoneSpec, snd: PathBuf, ctrl: TcpStream) -> Phone {
        Phone {
            name: spec.name,
            user: spec.user,
            tone: spec.tone,
            snd,
            ctrl,
            buf: Vec::new(),
            msgs: VecDeque::new(),
            token: 0,
        }
    }

    /// Read what baresip sent within `wait` into the message queue.
    pub fn pump(&mut self, wait: Duration) {
        let end = Instant::now() + wait;
        let mut chunk = [0u8; 8192];
        loop {
            match self.ctrl.read(&mut chunk) {
                Ok(0) => panic!("phone {}: baresip closed its ctrl_tcp socket", self.name),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => panic!("phone {}: ctrl_tcp: {e}", self.name),
            }
            while let Some((msg, used)) = netstring(&self.buf) {
                self.msgs.push_back(Msg(msg));
                self.buf.drain(..used);
            }
            if Instant::now() >= end {
                return;
            }
        }
    }

    /// Forget every message received so far.
    pub fn clear(&mut self) {
        self.pump(Duration::ZERO);
        self.msgs.clear();
    }

    /// Send a command; return its response once it comes (it must be ok).
    pub fn command(&mut self, command: &str, params: &str) -> Msg {
        self.token += 1;
        let token = format!("{}{}", self.name, self.token);
        let json =
            format!("{{\"command\":\"{command}\",\"params\":\"{params}\",\"token\":\"{token}\"}}");
        let frame = format!("{}:{json},", json.len());
        self.ctrl
            .write_all(frame.as_bytes())
            .unwrap_or_else(|e| panic!("phone {}: ctrl_tcp write: {e}", self.name));
        let end = Instant::now() + WAIT;
        loop {
            let at = self.msgs.iter().position(|m| {
                m.field("response").as_deref() == Some("true")
                    && m.field("token").as_deref() == Some(&token)
            });
            if let Some(at) = at {
                let r = self.msgs.remove(at).expect("position in range");
                assert_eq!(
                    r.field("ok").as_deref(),
                    Some("true"),
                    "phone {}: command {command} {params} failed: {}",
                    self.name,
                    r.0
                );
                return r;
            }
            assert!(
                Instant::now() < end,
                "phone {}: no response to {command} {params}",
                self.name
            );
            self.pump(Duration::from_millis(50));
        }
    }

    /// Wait for the event `kind` (the first one not yet taken). A call that
    /// closes instead fails the test with the reason baresip gives.
    pub fn event(&mut self, kind: &str, what: &str) -> Msg {
        let end = Instant::now() + WAIT;
        loop {
            if let Some(at) = self.msgs.iter().position(|m| m.is_event(kind)) {
                return self.msgs.remove(at).expect("position in range");
            }
            if kind != "CALL_CLOSED" {
                if let Some(m) = self.msgs.iter().find(|m| m.is_event("CALL_CLOSED")) {
                    panic!(
                        "{what}: phone {} saw the call closed while waiting for {kind}: {}",
                        self.name,
                        m.field("param").unwrap_or_default()
                    );
                }
            }
            assert!(
                Instant::now() < end,
                "{what}: phone {} saw no {kind} within {WAIT:?} (events: {:?})",
                self.name,
                self.msgs
                    .iter()
                    .filter_map(|m| m.field("type"))
                    .collect::<Vec<_>>()
            );
            self.pump(Duration::from_millis(50));
        }
    }

    /// The recordings of received audio now in the phone's directory.
    pub fn recordings(&self) -> BTreeSet<PathBuf> {
        fs::read_dir(&self.snd)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One netstring (`LEN:DATA,`) from the start of `b`: its text and the
/// bytes it took; `None` while incomplete.
pub fn netstring(b: &[u8]) -> Option<(String, usize)> {
    let colon = b.iter().position(|&c| c == b':')?;
    let len: usize = std::str::from_utf8(&b[..colon]).ok()?.trim().parse().ok()?;
    let data = b.get(colon + 1..colon + 1 + len)?;
    if *b.get(colon + 1 + len)? != b',' {
        panic!(
            "ctrl_tcp: not a netstring: {:?}",
            String::from_utf8_lossy(b)
        );
    }
    Some((String::from_utf8_lossy(data).into_owned(), colon + len + 2))
}

/// The value of `key` in a flat JSON object, as text (strings unescaped;
/// `true`, numbers as written). Enough for baresip's ctrl_tcp messages.
pub fn json_field(obj: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\"");
    let mut from = 0;
    while let Some(i) = obj[from..].find(&pat) {
        let after = from + i + pat.len();
        from = after;
        let Some(rest) = obj[after..].trim_start().strip_prefix(':') else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(s) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = s.chars();
            while let Some(c) = chars.next() {
                match c {
                    '"' => return Some(out),
                    '\\' => match chars.next()? {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        c => out.push(c),
                    },
                    c => out.push(c),
                }
            }
            return None;
        }
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        return Some(rest[..end].trim().to_string());
    }
    None
}

/// What one call proved.
pub struct CallReport {
    pub what: String,
    /// Seconds of the other phone's tone each side recorded, and its
    /// measured frequency: (caller, callee).
    pub heard: [(f64, f64); 2],
    /// RTP packets on the WAN: relay → W and W → relay.
    pub wan_rtp: (usize, usize),
}

/// `caller` dials `callee`'s user at the provider; the callee answers; both
/// phones must see the call established and RTP arriving; after [`TALK`]
/// `hangs_up` (the caller if true) hangs up and both must see it closed.
/// Then each phone's recording must hold the other's tone. A capture of the
/// router's WAN interface, `wan-<label>.pcap`, counts the RTP that crossed
/// it to and from W.
pub fn call(
    lab: &mut Lab,
    label: &str,
    caller: &mut Phone,
    callee: &mut Phone,
    caller_hangs_up: bool,
) -> CallReport {
    let what = format!("call {label} ({} -> {})", caller.name, callee.name);
    let rtp_cap = lab.capture(
        "rwan",
        &format!("wan-{label}.pcap"),
        &format!("udp and host {} and not port 5060", lab.plan.wan_phone),
    );
    caller.clear();
    callee.clear();
    let before = [caller.recordings(), callee.recordings()];
    caller.command(
        "dial",
        &format!("sip:{}@{}", callee.user, lab.plan.domain()),
    );
    callee.event("CALL_INCOMING", &what);
    callee.command("accept", "");
    for p in [&mut *caller, &mut *callee] {
        p.event("CALL_ESTABLISHED", &what);
        // baresip's "incoming RTP established": the other side's audio
        // reaches this phone.
        p.event("CALL_RTPESTAB", &what);
    }
    std::thread::sleep(TALK);
    if caller_hangs_up {
        caller.command("hangup", "");
    } else {
        callee.command("hangup", "");
    }
    for p in [&mut *caller, &mut *callee] {
        p.event("CALL_CLOSED", &what);
    }
    // baresip closes the recordings as the call ends.
    std::thread::sleep(Duration::from_millis(300));
    let pcap = rtp_cap.stop();
    let wan_rtp = rtp_counts(&pcap, lab.plan.router_wan, lab.plan.wan_phone)
        .unwrap_or_else(|e| panic!("{what}: wan-{label}.pcap: {e}"));
    let mut heard = [(0.0, 0.0); 2];
    for (i, (p, other)) in [(&*caller, &*callee), (&*callee, &*caller)]
        .into_iter()
        .enumerate()
    {
        let new: Vec<PathBuf> = p.recordings().difference(&before[i]).cloned().collect();
        assert_eq!(
            new.len(),
            1,
            "{what}: phone {} should have made one recording of received audio, made {new:?}",
            p.name
        );
        let audio = fs::read(&new[0])
            .map_err(|e| e.to_string())
            .and_then(|b| analyse_wav(&b))
            .unwrap_or_else(|e| panic!("{what}: {}: {e}", new[0].display()));
        let want = f64::from(other.tone);
        assert!(
            audio.tone_frames >= MIN_TONE_FRAMES && (audio.freq - want).abs() <= want * 0.1,
            "{what}: phone {} did not hear phone {}'s {want} Hz tone: {} frames of tone at \
             {:.0} Hz, {} frames recorded ({})",
            p.name,
            other.name,
            audio.tone_frames,
            audio.freq,
            audio.frames,
            new[0].display()
        );
        heard[i] = (audio.tone_frames as f64 * 0.02, audio.freq);
    }
    CallReport {
        what,
        heard,
        wan_rtp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fields_and_netstrings() {
        let m = r#"{"event":true, "type": "CALL_CLOSED","param":"a \"b\"","n":3}"#;
        assert_eq!(json_field(m, "event").as_deref(), Some("true"));
        assert_eq!(json_field(m, "type").as_deref(), Some("CALL_CLOSED"));
        assert_eq!(json_field(m, "param").as_deref(), Some("a \"b\""));
        assert_eq!(json_field(m, "n").as_deref(), Some("3"));
        assert_eq!(json_field(m, "token"), None);
        assert_eq!(netstring(b"5:hello,6:"), Some(("hello".to_string(), 8)));
        assert_eq!(netstring(b"5:hel"), None);
    }
}
