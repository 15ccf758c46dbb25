//! A small SMTP server that records the messages a server sends: the recovery codes, read the
//! way a candidate reads them (the server under test is told to relay through it with
//! [`crate::ServerBuilder::smtp`]).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The SMTP sink: listening on a free local port, each message's DATA kept in order of arrival.
#[derive(Debug, Clone)]
pub struct MailSink {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<String>>>,
}

impl MailSink {
    /// Starts the sink on a free local port (in threads of its own, for the test's lifetime).
    pub fn start() -> MailSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP sink");
        let addr = listener.local_addr().expect("the SMTP sink's address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = MailSink { addr, received: received.clone() };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let received = received.clone();
                std::thread::spawn(move || {
                    let _ = session(stream, &received);
                });
            }
        });
        sink
    }

    /// Every message received so far (headers and body as sent).
    pub fn messages(&self) -> Vec<String> {
        self.received.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The 6-digit code of the last recovery message to `to`, waiting for it up to 10 seconds.
    #[track_caller]
    pub fn recovery_code(&self, to: &str) -> String {
        let mut code = None;
        crate::wait_until(format!("a recovery message to {to}"), Duration::from_secs(10), || {
            code = self
                .messages()
                .iter()
                .rev()
                .find(|m| m.contains(&format!("To: {to}")))
                .and_then(|m| six_digits(&body_text(m)));
            code.is_some()
        });
        code.unwrap_or_default()
    }
}

/// The body of a message as text: decoded from base64 or quoted-printable, as the server's
/// mailer chose to send it.
fn body_text(message: &str) -> String {
    let (head, body) = message.split_once("\n\n").unwrap_or(("", message));
    let encoding = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-transfer-encoding")))
        .map(|(_, v)| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        Some("base64") => {
            let joined: String = body.split_whitespace().collect();
            String::from_utf8_lossy(&STANDARD.decode(joined).unwrap_or_default()).into_owned()
        }
        // Soft line breaks only: the code is ASCII.
        Some("quoted-printable") => body.replace("=\n", ""),
        _ => body.to_owned(),
    }
}

/// The first run of exactly six digits in `text`.
fn six_digits(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit()).find(|run| run.len() == 6).map(str::to_owned)
}

/// One SMTP conversation: every command is accepted, the DATA is kept.
fn session(stream: TcpStream, received: &Mutex<Vec<String>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut w = stream.try_clone()?;
    let mut lines = BufReader::new(stream).lines();
    w.write_all(b"220 sink.local ESMTP\r\n")?;
    let (mut in_data, mut data) = (false, String::new());
    while let Some(line) = lines.next().transpose()? {
        if in_data {
            if line == "." {
                in_data = false;
                received.lock().unwrap_or_else(PoisonError::into_inner).push(std::mem::take(&mut data));
                w.write_all(b"250 queued\r\n")?;
            } else {
                data.push_str(&line);
                data.push('\n');
            }
            continue;
        }
        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => w.write_all(b"250 sink.local\r\n")?,
            "DATA" => {
                in_data = true;
                w.write_all(b"354 go ahead\r\n")?;
            }
            "QUIT" => {
                w.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => w.write_all(b"250 ok\r\n")?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_decoded_before_the_code_is_read() {
        let mail = "To: a@example.org\nMessage-ID: <123456@x>\nContent-Transfer-Encoding: base64\n\n\
                    WW91ciBjb2RlIGlzIDY1NDMyMTs=\n";
        assert_eq!(six_digits(&body_text(mail)).as_deref(), Some("654321"));
        let qp =
            "To: a@example.org\nContent-Transfer-Encoding: quoted-printable\n\nYour code is 65=\n4321;\n";
        assert_eq!(six_digits(&body_text(qp)).as_deref(), Some("654321"));
    }

    #[test]
    fn the_code_is_the_six_digit_run() {
        assert_eq!(six_digits("您的验证码是 042917，10 分钟内有效").as_deref(), Some("042917"));
        assert_eq!(six_digits("Date: 2027 12:30:45\nyour code is 123456").as_deref(), Some("123456"));
        assert_eq!(six_digits("no code 12345 here 1234567"), None);
    }
}
