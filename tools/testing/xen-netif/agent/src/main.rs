// SPDX-License-Identifier: GPL-2.0

//! `xnt-agent`: runs shell commands in a test guest on behalf of dom0.
//!
//! * `xnt-agent serve [PORT]` (guest): accepts connections; each carries one command line,
//!   which runs under `/bin/sh -c` with stdout and stderr sent back, followed by a trailer
//!   `\n@@XNT-EXIT=<status>\n`.
//! * `xnt-agent exec HOST [--port P] [--timeout S] -- CMD...` (dom0): sends CMD, copies the
//!   output to stdout and exits with the command's status (124 on timeout, 125 when the
//!   agent cannot be reached).
//! * `xnt-agent wait HOST [--port P] [--timeout S]`: waits until the agent answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DEFAULT_PORT: u16 = 7000;
const TRAILER: &str = "\n@@XNT-EXIT=";

fn serve(port: u16) -> ! {
    let listener = match TcpListener::bind(("0.0.0.0", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("xnt-agent: bind port {port}: {e}");
            std::process::exit(1);
        }
    };
    for conn in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let _ = handle(conn);
        });
    }
    std::process::exit(1);
}

fn handle(conn: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let cmd = line.trim_end_matches(['\n', '\r']);
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("exec 2>&1; {cmd}"))
        .stdin(Stdio::null())
        .output();
    let mut conn = conn;
    match out {
        Ok(o) => {
            conn.write_all(&o.stdout)?;
            let code = o.status.code().unwrap_or(128);
            write!(conn, "{TRAILER}{code}\n")?;
        }
        Err(e) => write!(conn, "xnt-agent: cannot run /bin/sh: {e}{TRAILER}127\n")?,
    }
    conn.flush()
}

fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    (host, port).to_socket_addrs().ok()?.next()
}

fn connect(host: &str, port: u16, deadline: Instant) -> Option<TcpStream> {
    let addr = resolve(host, port)?;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        if let Ok(s) = TcpStream::connect_timeout(&addr, left.min(Duration::from_secs(3))) {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn exec(host: &str, port: u16, timeout: Duration, cmd: &str) -> i32 {
    let deadline = Instant::now() + timeout;
    let Some(mut s) = connect(host, port, deadline) else {
        eprintln!("xnt-agent: no agent answering at {host}:{port}");
        return 125;
    };
    if s.write_all(format!("{cmd}\n").as_bytes()).is_err() {
        return 125;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            std::io::stdout().write_all(&buf).ok();
            eprintln!("xnt-agent: timed out after {} s: {cmd}", timeout.as_secs());
            return 124;
        }
        s.set_read_timeout(Some(left)).ok();
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => {
                eprintln!("xnt-agent: read: {e}");
                return 125;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf);
    match text.rfind(TRAILER) {
        Some(at) => {
            print!("{}", &text[..at]);
            let code = text[at + TRAILER.len()..].trim();
            code.parse().unwrap_or(125)
        }
        None => {
            print!("{text}");
            eprintln!("xnt-agent: connection closed without a status");
            125
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: xnt-agent serve [PORT] | exec HOST [--port P] [--timeout S] -- CMD... | wait HOST [--port P] [--timeout S]");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(verb) = args.first() else { usage() };
    match verb.as_str() {
        "serve" => serve(
            args.get(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(DEFAULT_PORT),
        ),
        "exec" | "wait" => {
            let host = args.get(1).cloned().unwrap_or_else(|| usage());
            let mut port = DEFAULT_PORT;
            let mut timeout = 60u64;
            let mut i = 2;
            let mut cmd = Vec::new();
            while i < args.len() {
                match args[i].as_str() {
                    "--port" => {
                        port = args
                            .get(i + 1)
                            .and_then(|v| v.parse().ok())
                            .unwrap_or_else(|| usage())
                    }
                    "--timeout" => {
                        timeout = args
                            .get(i + 1)
                            .and_then(|v| v.parse().ok())
                            .unwrap_or_else(|| usage())
                    }
                    "--" => {
                        cmd = args[i + 1..].to_vec();
                        break;
                    }
                    _ => usage(),
                }
                i += 2;
            }
            let timeout = Duration::from_secs(timeout);
            let code = if verb == "wait" {
                exec(&host, port, timeout, "true")
            } else {
                if cmd.is_empty() {
                    usage();
                }
                exec(&host, port, timeout, &cmd.join(" "))
            };
            std::process::exit(code);
        }
        _ => usage(),
    }
}
